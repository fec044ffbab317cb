//! Where in a model's file a DuckDB error points. DuckDB reports a position
//! in the SQL it ran (the `LINE n:` excerpt and its caret); the user wrote a
//! Jinja template. This module finds the excerpt in the compiled SQL, then
//! maps that offset back to the template: text outside Jinja tags is found
//! again in the compiled SQL (so its positions are exact), and text a tag
//! produced (`{{ ref('x') }}`, a macro call) points at that tag. It is shown
//! like a compiler's error: `models/x.sql:3:10: message`, the source line,
//! and a caret under the column.
//!
//! minijinja keeps no map from output to template, and dbt shows no
//! position at all; rebuilding the map after the fact costs nothing when
//! nothing fails, and needs no change to rendering.

/// A piece of template text found again in the compiled SQL.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    out: usize,
    src: usize,
    len: usize,
}

/// Compiled-SQL offsets back to template offsets.
#[derive(Debug)]
pub struct SourceMap {
    anchors: Vec<Anchor>,
    /// Byte ranges of the template's Jinja tags (`{{ }}`, `{% %}`, `{# #}`).
    tags: Vec<(usize, usize)>,
}

/// What produced a byte of compiled SQL.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Origin {
    /// The template's own text, at this offset.
    Text(usize),
    /// A Jinja tag starting at this offset (its output, or a macro's).
    Tag(usize),
}

/// The Jinja tags of `template`, as byte ranges.
fn tags(template: &str) -> Vec<(usize, usize)> {
    let b = template.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        let close = match (b[i], b[i + 1]) {
            (b'{', b'{') => "}}",
            (b'{', b'%') => "%}",
            (b'{', b'#') => "#}",
            _ => {
                i += 1;
                continue;
            }
        };
        let end = template[i + 2..]
            .find(close)
            .map(|e| i + 2 + e + 2)
            .unwrap_or(template.len());
        out.push((i, end));
        i = end;
    }
    out
}

impl SourceMap {
    /// Align `template` with what it rendered to, `compiled`: each line of
    /// text between tags (trimmed: whitespace control and indentation
    /// change) is looked for in order.
    pub fn new(template: &str, compiled: &str) -> SourceMap {
        let tags = tags(template);
        let mut literals = Vec::new();
        let mut at = 0;
        for &(s, e) in &tags {
            literals.push((at, s));
            at = e;
        }
        literals.push((at, template.len()));
        let mut anchors = Vec::new();
        let mut pos = 0;
        for (s, e) in literals {
            let mut line_start = s;
            for piece in template[s..e].split_inclusive('\n') {
                let trimmed = piece.trim();
                if !trimmed.is_empty() {
                    let src = line_start + (piece.len() - piece.trim_start().len());
                    if let Some(found) = compiled[pos..].find(trimmed) {
                        anchors.push(Anchor {
                            out: pos + found,
                            src,
                            len: trimmed.len(),
                        });
                        pos += found + trimmed.len();
                    }
                }
                line_start += piece.len();
            }
        }
        SourceMap { anchors, tags }
    }

    /// What produced the compiled SQL's byte `out`.
    pub fn origin(&self, out: usize) -> Origin {
        let before = self.anchors.iter().rev().find(|a| a.out <= out);
        if let Some(a) = before {
            if out < a.out + a.len {
                return Origin::Text(a.src + (out - a.out));
            }
        }
        let (src_end, out_end) = before.map_or((0, 0), |a| (a.src + a.len, a.out + a.len));
        let next_src = self
            .anchors
            .iter()
            .find(|a| a.out > out)
            .map_or(usize::MAX, |a| a.src);
        match self
            .tags
            .iter()
            .find(|&&(s, _)| s >= src_end && s < next_src)
        {
            Some(&(s, _)) => Origin::Tag(s),
            None => Origin::Text(src_end + (out - out_end)),
        }
    }
}

/// The offset in `sql` that DuckDB's message points at: its `LINE n:`
/// excerpt (maybe cut short with `...` at either end) and the caret under
/// it, found in `sql`. `None` when the message has no position or the
/// excerpt is not part of `sql` (an error in SQL the engine wrapped
/// around the model's).
pub fn duckdb_position(message: &str, sql: &str) -> Option<usize> {
    let lines: Vec<&str> = message.lines().collect();
    let i = lines.iter().position(|l| l.starts_with("LINE "))?;
    let head_len = lines[i].find(": ")? + 2;
    let excerpt = &lines[i][head_len..];
    let caret = lines.get(i + 1)?.find('^')?.checked_sub(head_len)?;
    let (excerpt, caret) = match excerpt.strip_prefix("...") {
        Some(rest) => (rest, caret.checked_sub(3)?),
        None => (excerpt, caret),
    };
    let excerpt = excerpt.strip_suffix("...").unwrap_or(excerpt);
    if caret > excerpt.len() || !excerpt.is_char_boundary(caret) {
        return None;
    }
    // the longest piece of the excerpt around the caret that `sql` holds
    // (the excerpt's line may begin with SQL the engine wrapped around it)
    for left in 0..=caret {
        if !excerpt.is_char_boundary(left) {
            continue;
        }
        for right in (caret.max(left + 1)..=excerpt.len()).rev() {
            if !excerpt.is_char_boundary(right) || right - left < 3 {
                continue;
            }
            let piece = &excerpt[left..right];
            let mut hits = sql.match_indices(piece);
            if let Some((at, _)) = hits.next() {
                if hits.next().is_none() || right - left == excerpt.len() {
                    return Some(at + caret - left);
                }
            }
        }
    }
    None
}

/// `file:line:col: message`, the template's line and a caret under the
/// column, for a DuckDB error in a model whose template is `template` and
/// whose compiled SQL is `compiled`; `None` when DuckDB gave no position
/// that lies in the model's SQL.
pub fn locate(file: &str, template: &str, compiled: &str, message: &str) -> Option<String> {
    let out = duckdb_position(message, compiled)?;
    let (src, note) = match SourceMap::new(template, compiled).origin(out) {
        Origin::Text(s) => (s, ""),
        Origin::Tag(s) => (s, " (in what this expression produced)"),
    };
    let src = src.min(template.len());
    let line_start = template[..src].rfind('\n').map_or(0, |i| i + 1);
    let line_no = template[..src].matches('\n').count() + 1;
    let line = template[line_start..].lines().next().unwrap_or("");
    let col = template[line_start..src].chars().count() + 1;
    let gist = crate::error::duckdb_gist(message);
    let gutter = line_no.to_string();
    let pad = " ".repeat(gutter.len());
    let spaces: String = template[line_start..src]
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    Some(format!(
        "{file}:{line_no}:{col}: {gist}\n{gutter} | {line}\n{pad} | {spaces}^{note}"
    ))
}

/// Whether DuckDB refused the SQL itself (it does not parse, or names a
/// table, column, type or function that does not exist): an error no retry
/// can fix, as opposed to data that fails a cast or a busy file.
pub fn is_sql_error(message: &str) -> bool {
    ["Parser Error", "Binder Error", "Catalog Error"]
        .iter()
        .any(|k| message.trim_start().starts_with(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_outside_tags_maps_exactly_and_tag_output_to_the_tag() {
        let t = "-- orders\nselect id,\n  {{ cents('amount') }} as amount\nfrom {{ ref('raw') }}\nwhere id > 0\n";
        let c = "-- orders\nselect id,\n  (amount / 100)::decimal(16, 2) as amount\nfrom \"db\".\"main\".\"raw\"\nwhere id > 0\n";
        let m = SourceMap::new(t, c);
        // `where` on line 5
        let out = c.find("where").unwrap();
        assert_eq!(m.origin(out), Origin::Text(t.find("where").unwrap()));
        // `as amount` after the macro call
        let out = c.find("as amount").unwrap();
        assert_eq!(m.origin(out), Origin::Text(t.find("as amount").unwrap()));
        // inside the macro's output: the macro call
        let out = c.find("decimal").unwrap();
        assert_eq!(m.origin(out), Origin::Tag(t.find("{{ cents").unwrap()));
        // inside ref's output
        let out = c.find("\"main\"").unwrap();
        assert_eq!(m.origin(out), Origin::Tag(t.find("{{ ref").unwrap()));
    }

    #[test]
    fn blocks_that_render_nothing_and_whitespace_control() {
        let t = "{{ config(materialized='table') }}\n\n{%- if var('x', false) %}\nselect 1 as a\n{%- else %}\nselect 2 as b\n{%- endif %}\n  union all selct 3\n";
        let c = "\nselect 2 as b\n  union all selct 3";
        let m = SourceMap::new(t, c);
        let out = c.find("selct").unwrap();
        assert_eq!(m.origin(out), Origin::Text(t.find("selct").unwrap()));
        let out = c.find("2 as b").unwrap();
        assert_eq!(m.origin(out), Origin::Text(t.find("2 as b").unwrap()));
    }

    #[test]
    fn duckdb_excerpts_are_found_in_the_compiled_sql() {
        let sql = "select *\nfrom x\nwhere a = = 1\n";
        let msg = "Parser Error: syntax error at or near \"=\"\n\nLINE 3: where a = = 1\n                  ^";
        assert_eq!(duckdb_position(msg, sql), Some(sql.find("= 1").unwrap()));
        // the excerpt begins with SQL the engine wrapped around the model's
        let sql = "select * frm \"tarmac\".\"main\".\"flights\"";
        let msg = "Parser Error: syntax error at or near \"\"tarmac\"\"\n\nLINE 1: create table \"t\" as (select * frm \"tarmac\".\"main\".\"flights\"\n                                          ^";
        let caret = msg.lines().last().unwrap().find('^').unwrap() - 8;
        let excerpt = &msg.lines().nth(2).unwrap()[8..];
        assert_eq!(&excerpt[caret..caret + 8], "\"tarmac\"");
        assert_eq!(
            duckdb_position(msg, sql),
            Some(sql.find("\"tarmac\"").unwrap())
        );
        // an excerpt cut short
        let msg = "Binder Error: x\n\nLINE 1: ...frm \"tarmac\".\"main\"...\n               ^";
        assert_eq!(
            duckdb_position(msg, sql),
            Some(sql.find("\"tarmac\"").unwrap())
        );
        assert_eq!(duckdb_position("Binder Error: no position", sql), None);
    }

    #[test]
    fn a_real_duckdb_error_points_into_the_model() {
        let template = "{{ config(materialized='table') }}\n\nselect *\n  frm {{ ref('flights') }}\nwhere 1 = 1\n";
        let compiled = "\n\nselect *\n  frm \"tarmac\".\"main\".\"flights\"\nwhere 1 = 1";
        let conn = warehouse::duckdb::Connection::open_in_memory().unwrap();
        let statement = format!("create table \"tarmac\".\"main\".\"x\" as (\n{compiled}\n)");
        let err = conn.execute_batch(&statement).unwrap_err().to_string();
        assert!(is_sql_error(&err), "{err}");
        let shown = locate("models/x.sql", template, compiled, &err).expect(&err);
        let expected = "models/x.sql:4:7: Parser Error: syntax error at or near \"\"tarmac\"\"\n4 |   frm {{ ref('flights') }}\n  |       ^ (in what this expression produced)";
        assert_eq!(shown, expected, "{err}");

        // a column that does not exist, on a line of plain text
        let template = "select id,\n       nope\nfrom {{ ref('t') }}";
        let compiled = "select id,\n       nope\nfrom t";
        conn.execute_batch("create table t (id int)").unwrap();
        let err = conn
            .execute_batch(&format!("create view v as (\n{compiled}\n)"))
            .unwrap_err()
            .to_string();
        assert!(is_sql_error(&err), "{err}");
        let shown = locate("models/v.sql", template, compiled, &err).expect(&err);
        assert!(
            shown.starts_with("models/v.sql:2:8: Binder Error"),
            "{shown}"
        );
        assert!(shown.ends_with("2 |        nope\n  |        ^"), "{shown}");
    }
}
