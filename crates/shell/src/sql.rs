//! A small SQL lexer: just enough to split scripts into statements, know when
//! a multi-line statement is complete, colour it, and find the context of the
//! word being completed.
//!
//! Why not ask DuckDB: its parser needs a whole statement, and the editor has
//! to answer "is this complete?" and "what is being typed here?" for half
//! typed text on every key press. Why not a full parser: these three uses
//! only need to know where strings, quoted identifiers, comments and `;` are.

use std::ops::Range;

/// What a run of characters is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An unquoted word: keyword, identifier or function name.
    Word,
    /// `"identifier"`.
    QuotedIdent,
    /// `'text'`, `E'text'` or `$tag$text$tag$`.
    String,
    Number,
    /// `-- …` or `/* … */`.
    Comment,
    /// `;`
    Semicolon,
    /// `.`
    Dot,
    /// `,`
    Comma,
    /// `(`
    Open,
    /// `)`
    Close,
    /// Any other operator or punctuation.
    Other,
    Whitespace,
}

/// A token and where it is (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub range: Range<usize>,
    /// A string, quoted identifier or block comment that the text ends inside.
    pub unterminated: bool,
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Splits `text` into tokens. Never fails: text that ends inside a string or
/// comment gives a last token marked `unterminated`.
pub fn lex(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((start, c)) = it.next() {
        let mut unterminated = false;
        let kind = match c {
            c if c.is_whitespace() => {
                while it.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                    it.next();
                }
                TokenKind::Whitespace
            }
            '-' if text[start..].starts_with("--") => {
                while it.peek().is_some_and(|(_, c)| *c != '\n') {
                    it.next();
                }
                TokenKind::Comment
            }
            '/' if text[start..].starts_with("/*") => {
                it.next();
                let mut closed = false;
                let mut prev = ' ';
                for (_, c) in it.by_ref() {
                    if prev == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    prev = c;
                }
                unterminated = !closed;
                TokenKind::Comment
            }
            '\'' => {
                unterminated = !skip_quoted(&mut it, '\'');
                TokenKind::String
            }
            '"' => {
                unterminated = !skip_quoted(&mut it, '"');
                TokenKind::QuotedIdent
            }
            '$' => {
                // $tag$ … $tag$ (dollar quoting); a lone `$1` is a parameter.
                let rest = &text[start + 1..];
                let tag_len = rest
                    .find(|c: char| !is_word_char(c) || c == '$')
                    .unwrap_or(rest.len());
                if rest[tag_len..].starts_with('$')
                    && !rest[..tag_len].starts_with(|c: char| c.is_ascii_digit())
                {
                    let tag = &text[start..start + tag_len + 2];
                    let body_start = start + tag_len + 2;
                    let end = text[body_start..]
                        .find(tag)
                        .map(|i| body_start + i + tag.len());
                    let stop = end.unwrap_or(text.len());
                    unterminated = end.is_none();
                    while it.peek().is_some_and(|(i, _)| *i < stop) {
                        it.next();
                    }
                    TokenKind::String
                } else {
                    while it.peek().is_some_and(|(_, c)| c.is_ascii_digit()) {
                        it.next();
                    }
                    TokenKind::Other
                }
            }
            c if c.is_ascii_digit() => {
                while it
                    .peek()
                    .is_some_and(|(_, c)| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                {
                    it.next();
                }
                TokenKind::Number
            }
            c if is_word_start(c) => {
                // E'…' escape strings are strings, not the word E.
                if (c == 'e' || c == 'E') && it.peek().is_some_and(|(_, c)| *c == '\'') {
                    it.next();
                    unterminated = !skip_quoted(&mut it, '\'');
                    TokenKind::String
                } else {
                    while it.peek().is_some_and(|(_, c)| is_word_char(*c)) {
                        it.next();
                    }
                    TokenKind::Word
                }
            }
            ';' => TokenKind::Semicolon,
            '.' => TokenKind::Dot,
            ',' => TokenKind::Comma,
            '(' => TokenKind::Open,
            ')' => TokenKind::Close,
            _ => TokenKind::Other,
        };
        let end = it.peek().map_or(text.len(), |(i, _)| *i);
        out.push(Token {
            kind,
            range: start..end,
            unterminated,
        });
    }
    out
}

/// Consumes up to and including the closing `quote` (a doubled quote is an
/// escaped one). Returns whether it was closed.
fn skip_quoted(it: &mut std::iter::Peekable<std::str::CharIndices<'_>>, quote: char) -> bool {
    while let Some((_, c)) = it.next() {
        if c == quote {
            if it.peek().is_some_and(|(_, c)| *c == quote) {
                it.next();
                continue;
            }
            return true;
        }
    }
    false
}

/// One piece of a script: a SQL statement (with its `;` if it had one) or a
/// dot command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Sql(String),
    Dot(String),
}

/// Splits a script into SQL statements and dot commands. A dot command is a
/// line whose first non-blank character is `.`, outside any statement. SQL
/// text after the last `;` is returned as a statement too (a script's last
/// statement may omit it).
pub fn split_script(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            break;
        }
        // Comments between statements: skipped, so a dot command after one
        // is still seen at the start of its line.
        if trimmed.starts_with("--") {
            let line_end = trimmed.find('\n').unwrap_or(trimmed.len());
            rest = &trimmed[line_end..];
            continue;
        }
        if trimmed.starts_with("/*") {
            let end = lex(trimmed).first().map_or(trimmed.len(), |t| t.range.end);
            rest = &trimmed[end..];
            continue;
        }
        if trimmed.starts_with('.') {
            let line_end = trimmed.find('\n').unwrap_or(trimmed.len());
            pieces.push(Piece::Dot(trimmed[..line_end].trim_end().to_string()));
            rest = &trimmed[line_end..];
            continue;
        }
        let end = first_statement_end(trimmed).unwrap_or(trimmed.len());
        let stmt = trimmed[..end].trim();
        if !is_blank_sql(stmt) {
            pieces.push(Piece::Sql(stmt.to_string()));
        }
        rest = &trimmed[end..];
    }
    pieces
}

/// Byte offset just past the first `;` that ends a statement, if any.
fn first_statement_end(text: &str) -> Option<usize> {
    lex(text)
        .into_iter()
        .find(|t| t.kind == TokenKind::Semicolon)
        .map(|t| t.range.end)
}

/// Whether `sql` holds nothing but whitespace, comments and `;`.
pub fn is_blank_sql(sql: &str) -> bool {
    lex(sql).iter().all(|t| {
        matches!(
            t.kind,
            TokenKind::Whitespace | TokenKind::Comment | TokenKind::Semicolon
        )
    })
}

/// Whether the editor's buffer is ready to run: a dot command (one line), or
/// SQL whose last meaningful token is a `;` outside strings and comments.
pub fn is_complete(buffer: &str) -> bool {
    let trimmed = buffer.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('.') {
        return true;
    }
    let tokens = lex(trimmed);
    if tokens.iter().any(|t| t.unterminated) {
        return false;
    }
    tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.kind, TokenKind::Whitespace | TokenKind::Comment))
        .is_some_and(|t| t.kind == TokenKind::Semicolon)
}

/// The statement's first keyword, upper-cased ("SELECT", "CREATE", …), past
/// comments and opening parentheses.
pub fn leading_keyword(sql: &str) -> Option<String> {
    lex(sql)
        .into_iter()
        .find(|t| {
            !matches!(
                t.kind,
                TokenKind::Whitespace | TokenKind::Comment | TokenKind::Open
            )
        })
        .filter(|t| t.kind == TokenKind::Word)
        .map(|t| sql[t.range].to_ascii_uppercase())
}

/// Whether a statement changes the catalog, so completion data must be
/// reloaded after it.
pub fn changes_catalog(sql: &str) -> bool {
    matches!(
        leading_keyword(sql).as_deref(),
        Some(
            "CREATE"
                | "DROP"
                | "ALTER"
                | "ATTACH"
                | "DETACH"
                | "USE"
                | "IMPORT"
                | "COMMENT"
                | "ROLLBACK"
        )
    )
}

/// Keywords offered by completion and coloured by the highlighter.
pub const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "AND",
    "ANTI",
    "ANY",
    "AS",
    "ASC",
    "ASOF",
    "ATTACH",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CHECKPOINT",
    "COLUMNS",
    "COMMIT",
    "COPY",
    "CREATE",
    "CROSS",
    "CUBE",
    "CURRENT_DATE",
    "CURRENT_TIMESTAMP",
    "DATE",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DETACH",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXCLUDE",
    "EXISTS",
    "EXPLAIN",
    "EXPORT",
    "FALSE",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FOR",
    "FROM",
    "FULL",
    "GROUP",
    "GROUPING",
    "HAVING",
    "ILIKE",
    "IN",
    "INNER",
    "INSERT",
    "INSTALL",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LAST",
    "LATERAL",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOAD",
    "MACRO",
    "NATURAL",
    "NOT",
    "NULL",
    "NULLS",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "PIVOT",
    "POSITIONAL",
    "PRAGMA",
    "PRECEDING",
    "QUALIFY",
    "RANGE",
    "RECURSIVE",
    "REPLACE",
    "RETURNING",
    "RIGHT",
    "ROLLBACK",
    "ROLLUP",
    "ROWS",
    "SAMPLE",
    "SCHEMA",
    "SELECT",
    "SEMI",
    "SET",
    "SHOW",
    "SUMMARIZE",
    "TABLE",
    "TEMP",
    "TEMPORARY",
    "THEN",
    "TIMESTAMP",
    "TRUE",
    "UNBOUNDED",
    "UNION",
    "UNNEST",
    "UNPIVOT",
    "UPDATE",
    "USE",
    "USING",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

/// Whether `word` (any case) is one of [`KEYWORDS`].
pub fn is_keyword(word: &str) -> bool {
    let upper = word.to_ascii_uppercase();
    KEYWORDS.binary_search(&upper.as_str()).is_ok()
}

/// `name` as SQL: bare when it is a plain lower-case identifier that is not a
/// keyword, double-quoted otherwise.
pub fn quote_ident(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !is_keyword(name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `text` as a SQL string literal.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(TokenKind, &str)> {
        lex(text)
            .into_iter()
            .filter(|t| t.kind != TokenKind::Whitespace)
            .map(|t| (t.kind, &text[t.range]))
            .collect()
    }

    #[test]
    fn keywords_are_sorted_for_binary_search() {
        let mut sorted = KEYWORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, KEYWORDS);
        assert!(is_keyword("select") && is_keyword("FROM") && !is_keyword("flights"));
    }

    #[test]
    fn lexes_strings_comments_and_identifiers() {
        use TokenKind::*;
        assert_eq!(
            kinds("select 'a;b', \"x\"\"y\" -- c;\nfrom t; /* ; */"),
            vec![
                (Word, "select"),
                (String, "'a;b'"),
                (Comma, ","),
                (QuotedIdent, "\"x\"\"y\""),
                (Comment, "-- c;"),
                (Word, "from"),
                (Word, "t"),
                (Semicolon, ";"),
                (Comment, "/* ; */"),
            ]
        );
        assert_eq!(
            kinds("$$a;b$$ $x$;$x$ $1"),
            vec![(String, "$$a;b$$"), (String, "$x$;$x$"), (Other, "$1")]
        );
        assert_eq!(
            kinds("E'it''s' 1.5e3"),
            vec![(String, "E'it''s'"), (Number, "1.5e3")]
        );
    }

    #[test]
    fn unterminated_text_is_marked() {
        assert!(lex("select 'abc").last().is_some_and(|t| t.unterminated));
        assert!(lex("/* abc").last().is_some_and(|t| t.unterminated));
        assert!(!lex("select 'abc'").iter().any(|t| t.unterminated));
    }

    #[test]
    fn completeness() {
        assert!(is_complete("select 1;"));
        assert!(is_complete("select 1;  -- done\n"));
        assert!(!is_complete("select 1"));
        assert!(!is_complete("select ';"));
        assert!(!is_complete("select 1 /* ; "));
        assert!(is_complete(".mode csv"));
        assert!(is_complete(""));
        assert!(is_complete("select\n  1\nfrom t;"));
    }

    #[test]
    fn splits_scripts() {
        let s = split_script("select 1; select ';' as x;\n.mode csv\n-- only a comment\nselect 2");
        assert_eq!(
            s,
            vec![
                Piece::Sql("select 1;".into()),
                Piece::Sql("select ';' as x;".into()),
                Piece::Dot(".mode csv".into()),
                Piece::Sql("select 2".into()),
            ]
        );
        assert_eq!(split_script("  ;; \n"), vec![]);
        assert_eq!(
            split_script("-- header\n/* block */ .mode csv\nselect 1; -- trailing\n"),
            vec![
                Piece::Dot(".mode csv".into()),
                Piece::Sql("select 1;".into())
            ]
        );
        assert_eq!(
            split_script(".tables\n.mode box"),
            vec![Piece::Dot(".tables".into()), Piece::Dot(".mode box".into())]
        );
    }

    #[test]
    fn classifies_statements() {
        assert_eq!(
            leading_keyword("  -- x\n (select 1)").as_deref(),
            Some("SELECT")
        );
        assert!(changes_catalog("create table t(a int)"));
        assert!(!changes_catalog("select * from t"));
        assert_eq!(leading_keyword("'x'"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("flights"), "flights");
        assert_eq!(quote_ident("Flights"), "\"Flights\"");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
