//! Keeping the access key out of logs, errors and files.
//!
//! FlightLabs authenticates with `access_key` in the query string, so every
//! URL we build is a secret-bearing string. The key lives in a [`Secret`]
//! (whose `Debug`/`Display` print `***`), requests are described by their
//! [`redact_url`] form, and `reqwest` errors are stripped of their URL before
//! they are formatted.
//!
//! This module is the one redaction helper of the whole binary: the client,
//! the ingest ledger and warnings, and the orchestrator's logs, history and
//! alerts all go through [`redact_url`] and [`scrub_all`].

use std::fmt;

/// A string that must never be printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself: only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces the value of every `access_key=` query parameter with `***`,
/// and the userinfo of every `scheme://user:password@host` with `***`
/// (a key placed in a base URL is as secret as `access_key`).
pub fn redact_url(url: &str) -> String {
    redact_query_key(&redact_userinfo(url))
}

/// `scheme://USERINFO@host` → `scheme://***@host`, wherever a URL appears in
/// the text.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let authority_start = i + 3;
        out.push_str(&rest[..authority_start]);
        let tail = &rest[authority_start..];
        // the authority ends at the first '/', '?', '#', or whitespace/quote
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The userinfo of a URL (`user:password`), if it has one: a secret to
/// scrub from everything a child process prints.
pub fn userinfo(url: &str) -> Option<&str> {
    let after = &url[url.find("://")? + 3..];
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let at = after[..end].rfind('@')?;
    Some(&after[..at]).filter(|u| !u.is_empty())
}

fn redact_query_key(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(pos) = find_key_param(rest) {
        let value_start = pos + "access_key=".len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let tail = &rest[value_start..];
        let end = tail.find(['&', '#', ' ', '"', '\'']).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn find_key_param(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("access_key=") {
        let at = from + i;
        if at == 0 || matches!(s.as_bytes()[at - 1], b'?' | b'&' | b' ' | b'"') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Removes every occurrence of `secret` from `text` (for messages that might
/// quote a URL or a body we did not build ourselves).
pub fn scrub(text: &str, secret: &Secret) -> String {
    scrub_all(text, [secret.expose()])
}

/// [`redact_url`], then every occurrence of every non-empty secret replaced
/// with `***`, however short (a 3-character password is still a password),
/// longest first so that a secret containing another is removed whole.
pub fn scrub_all<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut secrets: Vec<&str> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut t = redact_url(text);
    for s in secrets {
        if t.contains(s) {
            t = t.replace(s, "***");
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_access_key_anywhere_in_query() {
        assert_eq!(
            redact_url("https://x/historical?access_key=SECRET&code=BOG"),
            "https://x/historical?access_key=***&code=BOG"
        );
        assert_eq!(
            redact_url("https://x/h?code=BOG&access_key=SECRET"),
            "https://x/h?code=BOG&access_key=***"
        );
        assert_eq!(redact_url("https://x/h?code=BOG"), "https://x/h?code=BOG");
        assert_eq!(
            redact_url("https://x/h?my_access_key=1&access_key=2"),
            "https://x/h?my_access_key=1&access_key=***"
        );
    }

    #[test]
    fn redacts_userinfo_of_any_url_in_the_text() {
        assert_eq!(
            redact_url("http://user:KEY@127.0.0.1:9/v1/historical?code=BOG"),
            "http://***@127.0.0.1:9/v1/historical?code=BOG"
        );
        assert_eq!(
            redact_url("warning: base URL \"https://KEY@h\" and http://a@b/c?access_key=x"),
            "warning: base URL \"https://***@h\" and http://***@b/c?access_key=***"
        );
        // an @ in the path or query is not userinfo
        assert_eq!(redact_url("http://h/p@q?x=a@b"), "http://h/p@q?x=a@b");
        assert_eq!(userinfo("http://user:KEY@host/x"), Some("user:KEY"));
        assert_eq!(userinfo("http://host/x@y"), None);
    }

    #[test]
    fn short_secrets_are_scrubbed_too() {
        assert_eq!(
            scrub_all("pw=abc; key=abcdef", ["abc", "abcdef"]),
            "pw=***; key=***"
        );
        assert_eq!(scrub_all("nothing here", ["", "zz"]), "nothing here");
    }

    #[test]
    fn secret_never_formats() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(scrub("key hunter2 here", &s), "key *** here");
    }
}
