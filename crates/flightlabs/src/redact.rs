//! Keeping the access key out of logs, errors and files.
//!
//! FlightLabs authenticates with `access_key` in the query string, so every
//! URL we build is a secret-bearing string. The key lives in a [`Secret`]
//! (whose `Debug`/`Display` print `***`), requests are described by their
//! [`redact_url`] form, and `reqwest` errors are stripped of their URL before
//! they are formatted.

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

/// Replaces the value of every `access_key=` query parameter with `***`.
pub fn redact_url(url: &str) -> String {
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
    let text = redact_url(text);
    if secret.is_empty() {
        text
    } else {
        text.replace(secret.expose(), "***")
    }
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
    fn secret_never_formats() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(scrub("key hunter2 here", &s), "key *** here");
    }
}
