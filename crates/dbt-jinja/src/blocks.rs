//! The one scanner of Jinja statement tags (`{% … %}`) in source text that
//! has not been parsed yet. Several things must be found before a template
//! can be handed to minijinja: the macros of a macro file, the snapshots of
//! a snapshot file, `{% test %}` and `{% materialization %}` blocks (which
//! become macros), `{% docs %}` blocks in Markdown, and the tags the
//! Python-compatibility rewrite touches (`extras::preprocess`). All of them
//! read tags the same way through [`tags`], so whitespace control (`{%-`,
//! `-%}`, `{%+`), comments (`{# … #}`) and expressions (`{{ … }}`, whose
//! strings may hold `{%`) are handled once.
//!
//! Needs no Jinja environment, so it sits below every module that renders.

use std::borrow::Cow;

/// One statement tag, `{%- keyword rest -%}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    /// Byte offset of `{%`.
    pub start: usize,
    /// Byte offset just past `%}`.
    pub end: usize,
    /// Whitespace control right after `{%`: `-`, `+` or nothing.
    pub lead: &'a str,
    /// The first word (`macro`, `endmacro`, `docs`, `set`, ...); empty when
    /// the tag does not start with one.
    pub keyword: &'a str,
    /// Everything after the keyword up to `%}`, as written (leading space
    /// and a closing `-` included).
    pub rest: &'a str,
}

impl<'a> Tag<'a> {
    /// The tag's text, `{%` to `%}`.
    pub fn text(&self, source: &'a str) -> &'a str {
        &source[self.start..self.end]
    }

    /// What follows the keyword, without the surrounding whitespace and
    /// the closing whitespace control.
    pub fn args(&self) -> &'a str {
        self.rest.trim().trim_end_matches(['-', '+']).trim_end()
    }

    /// Whitespace control right before `%}` (`-`, `+` or nothing); as in
    /// Jinja, only when it touches the `%}`.
    pub fn trail(&self) -> &'a str {
        if self.rest.ends_with('-') {
            "-"
        } else if self.rest.ends_with('+') {
            "+"
        } else {
            ""
        }
    }

    /// The name a block tag opens (`macro cents(x)` → `cents`), letters,
    /// digits and `_`.
    pub fn name(&self) -> &'a str {
        let a = self.rest.trim_start();
        let n = a
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(a.len());
        &a[..n]
    }
}

/// The statement tags of `text` in order, from byte `from` on. Comments
/// and expressions are skipped. A `{%` never closed ends the scan; [`Tags::unclosed`] then
/// says where it was.
pub fn tags_from(text: &str, from: usize) -> Tags<'_> {
    Tags {
        text,
        at: from.min(text.len()),
        unclosed: None,
    }
}

/// [`tags_from`] the start.
pub fn tags(text: &str) -> Tags<'_> {
    tags_from(text, 0)
}

/// Iterator of [`tags`].
#[derive(Debug, Clone)]
pub struct Tags<'a> {
    text: &'a str,
    at: usize,
    /// Where a `{%` without `%}` starts, once the scan has reached it.
    pub unclosed: Option<usize>,
}

impl<'a> Iterator for Tags<'a> {
    type Item = Tag<'a>;

    fn next(&mut self) -> Option<Tag<'a>> {
        let text = self.text;
        loop {
            let rel = text.get(self.at..)?.find('{')?;
            let start = self.at + rel;
            let after = &text[start + 1..];
            if after.starts_with('#') {
                // a comment: nothing in it is a tag
                match after.find("#}") {
                    Some(e) => self.at = start + 1 + e + 2,
                    None => {
                        self.at = text.len();
                        return None;
                    }
                }
                continue;
            }
            if after.starts_with('{') {
                // an expression: a `{#` or `{%` in one of its strings is
                // not a comment or a tag
                self.at = match after.find("}}") {
                    Some(e) => start + 1 + e + 2,
                    None => start + 2,
                };
                continue;
            }
            if !after.starts_with('%') {
                self.at = start + 1;
                continue;
            }
            let Some(close) = text[start + 2..].find("%}") else {
                self.unclosed = Some(start);
                self.at = text.len();
                return None;
            };
            let inner = &text[start + 2..start + 2 + close];
            let end = start + 2 + close + 2;
            self.at = end;
            let body = inner.trim_start_matches(['-', '+']);
            let lead = &inner[..inner.len() - body.len()];
            let body = body.trim_start();
            let kw_len = body
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(body.len());
            return Some(Tag {
                start,
                end,
                lead,
                keyword: &body[..kw_len],
                rest: &body[kw_len..],
            });
        }
    }
}

/// The first tag with `keyword` at or after byte `from`.
pub fn find_tag<'a>(text: &'a str, from: usize, keyword: &str) -> Option<Tag<'a>> {
    tags_from(text, from).find(|t| t.keyword == keyword)
}

/// `text` with each tag for which `replace` gives a text replaced by it;
/// borrowed when nothing was.
pub fn rewrite<'a>(
    text: &'a str,
    mut replace: impl FnMut(&Tag<'a>) -> Option<String>,
) -> Cow<'a, str> {
    let mut out = String::new();
    let mut last = 0;
    for t in tags(text) {
        if let Some(new) = replace(&t) {
            out.push_str(&text[last..t.start]);
            out.push_str(&new);
            last = t.end;
        }
    }
    if last == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// Rename a block: `{% <from> rest %}` → `{% <to><head> rest %}` and
/// `{% end<from> %}` → `{% endmacro %}`, keeping whitespace control. How
/// `{% test %}` and `{% materialization %}` blocks become macros; `head`
/// makes the new opening tag from the old one (`None`: leave it).
pub fn blocks_to_macros<'a>(
    text: &'a str,
    from: &str,
    mut head: impl FnMut(&Tag<'a>) -> Option<String>,
) -> Cow<'a, str> {
    if !text.contains(from) {
        return Cow::Borrowed(text);
    }
    let end_kw = format!("end{from}");
    rewrite(text, |t| {
        if t.keyword == from {
            head(t).map(|h| format!("{{%{} macro {h}%}}", t.lead))
        } else if t.keyword == end_kw {
            Some(format!("{{%{} endmacro{}%}}", t.lead, t.rest))
        } else {
            None
        }
    })
}

/// Split a macro file into `(name, first line, text)` per `{% macro %}`
/// block, the text running from `{% macro` to the end of `{% endmacro %}`.
pub fn split_macros(text: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<Tag<'_>> = None;
    for t in tags(text) {
        match (t.keyword, &open) {
            ("macro", None) => open = Some(t),
            ("endmacro", Some(o)) => {
                let name = o.name();
                if !name.is_empty() {
                    let line = text[..o.start].matches('\n').count() + 1;
                    out.push((name.to_string(), line, text[o.start..t.end].to_string()));
                }
                open = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_whitespace_control_keyword_and_rest() {
        let src = "a {%- macro m(x) -%} b {%+ endmacro %}{{ x }}{% if y: %}";
        let t: Vec<Tag> = tags(src).collect();
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].lead, t[0].keyword, t[0].name()), ("-", "macro", "m"));
        assert_eq!((t[0].args(), t[0].trail()), ("m(x)", "-"));
        assert_eq!(t[0].text(src), "{%- macro m(x) -%}");
        assert_eq!(
            (t[1].lead, t[1].keyword, t[1].trail()),
            ("+", "endmacro", "")
        );
        assert_eq!((t[2].keyword, t[2].rest), ("if", " y: "));
    }

    #[test]
    fn comments_hide_tags_and_unclosed_tags_end_the_scan() {
        let src = "{# {% macro hidden() %} #}{{ '{% macro no() %}' }}{% set a = 1 %}{% if";
        let mut it = tags(src);
        let kws: Vec<&str> = it.by_ref().map(|t| t.keyword).collect();
        assert_eq!(kws, ["set"]);
        assert_eq!(it.unclosed, Some(src.len() - 5));
        assert_eq!(find_tag(src, 0, "macro"), None);
    }

    #[test]
    fn keywords_match_whole_words() {
        let src = "{% macros %}{% macro_x %}{%macro y() %}{% endmacro %}";
        assert_eq!(find_tag(src, 0, "macro").map(|t| t.name()), Some("y"));
        assert_eq!(split_macros(src).len(), 1);
    }

    #[test]
    fn macro_files_split_with_their_first_line() {
        let src =
            "-- x\n{% macro a() %}1{% endmacro %}\n\n{%- macro b(y) -%}\n{{ y }}\n{%- endmacro -%}";
        let m = split_macros(src);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].0.as_str(), m[0].1), ("a", 2));
        assert_eq!(m[0].2, "{% macro a() %}1{% endmacro %}");
        assert_eq!((m[1].0.as_str(), m[1].1), ("b", 4));
        assert!(m[1].2.ends_with("{%- endmacro -%}"));
    }

    #[test]
    fn blocks_become_macros_keeping_whitespace_control() {
        let src = "{%- test is_even(model, column_name) -%} x {%- endtest %} {% testing %}";
        let out = blocks_to_macros(src, "test", |t| {
            t.rest
                .starts_with(char::is_whitespace)
                .then(|| format!("test_{}", t.rest.trim_start()))
        });
        assert_eq!(
            out,
            "{%- macro test_is_even(model, column_name) -%} x {%- endmacro %} {% testing %}"
        );
        assert!(matches!(
            blocks_to_macros("select 1", "test", |_| None),
            Cow::Borrowed(_)
        ));
    }
}
