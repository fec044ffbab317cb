//! Syntax colours for the line being edited: keywords, strings, numbers,
//! comments, quoted identifiers, and dot commands.
//!
//! Uses the same lexer as statement splitting, so what is coloured as a
//! string is exactly what will be treated as one when the line runs.

use nu_ansi_term::{Color, Style};
use reedline::{Highlighter, StyledText};

use crate::sql::{is_keyword, lex, TokenKind};

pub struct SqlHighlighter;

impl Highlighter for SqlHighlighter {
    fn highlight(&self, line: &str, _cursor: usize) -> StyledText {
        highlight(line)
    }
}

/// The styled pieces of `line`.
pub fn highlight(line: &str) -> StyledText {
    let mut styled = StyledText::new();
    if line.trim_start().starts_with('.') {
        styled.push((Style::new().fg(Color::Cyan), line.to_string()));
        return styled;
    }
    for t in lex(line) {
        let text = &line[t.range.clone()];
        let style = match t.kind {
            TokenKind::Word if is_keyword(text) => Style::new().fg(Color::Green).bold(),
            TokenKind::String => Style::new().fg(Color::Yellow),
            TokenKind::Number => Style::new().fg(Color::Purple),
            TokenKind::Comment => Style::new().fg(Color::DarkGray).italic(),
            TokenKind::QuotedIdent => Style::new().fg(Color::Cyan),
            _ => Style::new(),
        };
        styled.push((style, text.to_string()));
    }
    styled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_keywords_and_literals_and_keeps_the_text() {
        let line = "select 'a', 42 -- x\nfrom \"T\"";
        let s = highlight(line);
        let text: String = s.buffer.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(text, line);
        let style_of = |piece: &str| s.buffer.iter().find(|(_, t)| t == piece).map(|(st, _)| *st);
        assert_eq!(
            style_of("select"),
            Some(Style::new().fg(Color::Green).bold())
        );
        assert_eq!(style_of("'a'"), Some(Style::new().fg(Color::Yellow)));
        assert_eq!(style_of("42"), Some(Style::new().fg(Color::Purple)));
        assert_eq!(style_of("\"T\""), Some(Style::new().fg(Color::Cyan)));
    }
}
