//! Dot commands: the DuckDB CLI's that people reach for (`.tables`,
//! `.schema`, `.mode`, `.timer`, `.output`, `.once`, `.read`, `.open`,
//! `.maxrows`, `.maxwidth`, `.quit`) and Tarmac's own (`.models`, `.lineage`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use crate::complete::DOT_COMMANDS;
use crate::output::{Column, Mode, ResultWriter};
use crate::{models, Error, Flow, Shell, Sink};

/// Splits a dot command line into words; `'…'` and `"…"` group words with
/// spaces.
pub fn split_args(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                has = true;
            }
            None if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            None => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

fn usage(text: &str) -> Error {
    Error::Usage(format!("usage: {text}"))
}

fn on_off(arg: Option<&String>, name: &str) -> Result<bool, Error> {
    match arg.map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("on" | "1" | "true" | "yes") => Ok(true),
        Some("off" | "0" | "false" | "no") => Ok(false),
        _ => Err(usage(&format!("{name} on|off"))),
    }
}

fn count(arg: Option<&String>, name: &str) -> Result<usize, Error> {
    arg.and_then(|s| s.parse::<usize>().ok())
        .ok_or_else(|| usage(&format!("{name} N (0: no limit)")))
}

impl Shell {
    /// Runs one dot command line.
    pub fn dot(&mut self, line: &str) -> Result<Flow, Error> {
        let args = split_args(line);
        let Some(cmd) = args.first() else {
            return Ok(Flow::Continue);
        };
        let arg = args.get(1);
        match cmd.as_str() {
            ".help" => {
                let mut out = io::stdout().lock();
                for (c, d) in DOT_COMMANDS {
                    let (params, text) = split_help(d);
                    let _ = writeln!(out, "{:<24}{text}", format!("{c} {params}").trim_end());
                }
                let _ = writeln!(
                    out,
                    "\nStatements end with `;` and may span lines. Tab completes, Ctrl-R searches history,\n\
                     Ctrl-C cancels a running query, Ctrl-D leaves."
                );
            }
            ".quit" | ".exit" => return Ok(Flow::Quit),
            ".mode" => match arg {
                None => println!("current output mode: {}", self.mode),
                Some(m) => self.mode = m.parse::<Mode>().map_err(Error::Usage)?,
            },
            ".timer" => self.timer = on_off(arg, ".timer")?,
            ".maxrows" => self.max_rows = Some(count(arg, ".maxrows")?),
            ".maxwidth" => self.max_width = Some(count(arg, ".maxwidth")?),
            ".output" | ".once" => {
                self.close_sink()?;
                match arg {
                    None if cmd == ".output" => {}
                    None => return Err(usage(".once FILE")),
                    Some(path) => {
                        let file = File::create(path)
                            .map_err(|e| Error::Io(format!("cannot write {path}: {e}")))?;
                        self.sink = Sink::File {
                            file: BufWriter::new(file),
                            once: cmd == ".once",
                        };
                    }
                }
            }
            ".read" => {
                let path = arg.ok_or_else(|| usage(".read FILE"))?;
                self.run_file(&PathBuf::from(path))?;
            }
            ".open" => {
                let path = arg.ok_or_else(|| usage(".open FILE (or :memory:)"))?;
                let read_only =
                    self.read_only || args.iter().any(|a| a == "--readonly" || a == "--read-only");
                self.session()?
                    .set_warehouse(&PathBuf::from(path), true, read_only)?;
                self.session()?.attach()?;
                self.refresh_catalog();
                self.session()?.detach(false)?;
            }
            ".tables" => self.tables(arg.map(String::as_str))?,
            ".schema" => self.schema(arg.map(String::as_str))?,
            ".models" => self.models()?,
            ".lineage" => {
                let name = arg.ok_or_else(|| usage(".lineage MODEL"))?;
                match models::load(&self.project_dir)? {
                    None => println!("{}", models::NO_MODELS),
                    Some(p) => {
                        let text = p.lineage(name)?;
                        self.write_text(&text)?;
                    }
                }
            }
            other => {
                return Err(Error::Usage(format!("unknown command {other}: see .help")));
            }
        }
        Ok(Flow::Continue)
    }

    /// Writes text to where results go (the screen or `.output`).
    fn write_text(&mut self, text: &str) -> Result<(), Error> {
        let r = match &mut self.sink {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|_| out.flush())
            }
            Sink::File { file, .. } => file.write_all(text.as_bytes()),
        };
        r.map_err(|e| Error::Io(e.to_string()))?;
        if let Sink::File { once: true, .. } = self.sink {
            self.close_sink()?;
        }
        Ok(())
    }

    /// `.tables [PATTERN]`: names in columns, schema-qualified outside the
    /// current schema.
    fn tables(&mut self, pattern: Option<&str>) -> Result<(), Error> {
        let pattern = pattern.unwrap_or("%");
        let rows = self.session()?.query_text(
            "WITH r AS (
               SELECT database_name AS d, schema_name AS s, table_name AS t FROM duckdb_tables()
               UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE NOT internal)
             SELECT CASE WHEN s = current_schema() AND d = current_database() THEN t ELSE s || '.' || t END AS name
             FROM r WHERE d IN (current_database(), 'temp') AND (t ILIKE ? OR s || '.' || t ILIKE ?)
             ORDER BY d <> current_database(), s <> current_schema(), s, t",
            &[pattern, pattern],
            true,
        )?;
        let names: Vec<String> = rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect();
        // In columns on a terminal, one a line for scripts.
        let to_terminal = matches!(self.sink, Sink::Stdout) && self.stdout_tty;
        let width = if to_terminal {
            crossterm::terminal::size()
                .map_or(80, |(w, _)| usize::from(w))
                .max(20)
        } else {
            1
        };
        let text = columns_text(&names, width);
        self.write_text(&text)
    }

    /// `.schema [PATTERN]`: the CREATE statements of tables and views.
    fn schema(&mut self, pattern: Option<&str>) -> Result<(), Error> {
        let pattern = pattern.unwrap_or("%");
        let rows = self.session()?.query_text(
            "WITH r AS (
               SELECT database_name AS d, schema_name AS s, table_name AS t, sql FROM duckdb_tables()
               UNION ALL SELECT database_name, schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal)
             SELECT sql FROM r WHERE d IN (current_database(), 'temp') AND (t ILIKE ? OR s || '.' || t ILIKE ?)
             ORDER BY s, t",
            &[pattern, pattern],
            true,
        )?;
        let mut text = String::new();
        for sql in rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
        {
            text.push_str(sql.trim_end());
            if !sql.trim_end().ends_with(';') {
                text.push(';');
            }
            text.push('\n');
        }
        if text.is_empty() && pattern != "%" {
            return Err(Error::Usage(format!(
                "no table or view matches {pattern:?}"
            )));
        }
        self.write_text(&text)
    }

    /// `.models`: from the dbt artifacts, in the current output mode.
    fn models(&mut self) -> Result<(), Error> {
        let Some(project) = models::load(&self.project_dir)? else {
            println!("{}", models::NO_MODELS);
            return Ok(());
        };
        let (columns, rows): (Vec<Column>, _) = project.models_table();
        if rows.is_empty() {
            println!("{}", models::NO_MODELS);
            return Ok(());
        }
        let opts = self.render_options();
        let mode = self.mode;
        let mut buf = Vec::new();
        let mut w = ResultWriter::new(&mut buf, mode, columns, opts);
        for r in rows {
            w.push_row(r).map_err(|e| Error::Io(e.to_string()))?;
        }
        w.finish().map_err(|e| Error::Io(e.to_string()))?;
        self.write_text(&String::from_utf8_lossy(&buf))
    }
}

/// ".mode MODE set the output mode" → ("MODE", "set the output mode"): the
/// upper-case words at the start are the parameters.
fn split_help(d: &str) -> (String, &str) {
    let mut params = Vec::new();
    let mut rest = d;
    while let Some((word, tail)) = rest.split_once(' ') {
        let is_param = word
            .chars()
            .all(|c| c.is_ascii_uppercase() || matches!(c, '[' | ']' | '|' | ':') || c == 'N')
            || word == "on|off";
        if !is_param {
            break;
        }
        params.push(word);
        rest = tail;
    }
    (params.join(" "), rest)
}

/// Names laid out in columns to fit `width`, filled top to bottom.
fn columns_text(names: &[String], width: usize) -> String {
    if names.is_empty() {
        return String::new();
    }
    use unicode_width::UnicodeWidthStr;
    let w = names.iter().map(|n| n.width()).max().unwrap_or(1) + 2;
    let cols = (width / w).max(1);
    let rows = names.len().div_ceil(cols);
    let mut out = String::new();
    for r in 0..rows {
        let mut line = String::new();
        for c in 0..cols {
            if let Some(n) = names.get(c * rows + r) {
                line.push_str(n);
                line.push_str(&" ".repeat(w - n.width()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arguments_with_quotes() {
        assert_eq!(
            split_args(".open 'my file.duckdb'"),
            vec![".open", "my file.duckdb"]
        );
        assert_eq!(split_args("  .mode   csv "), vec![".mode", "csv"]);
        assert_eq!(split_args(".tables \"\""), vec![".tables", ""]);
    }

    #[test]
    fn help_parameters() {
        assert_eq!(
            split_help("MODE set the output mode"),
            ("MODE".to_string(), "set the output mode")
        );
        assert_eq!(
            split_help("[FILE] send results"),
            ("[FILE]".to_string(), "send results")
        );
        assert_eq!(
            split_help("on|off show timing"),
            ("on|off".to_string(), "show timing")
        );
        assert_eq!(
            split_help("show this help"),
            (String::new(), "show this help")
        );
    }

    #[test]
    fn lays_names_out_in_columns() {
        let names: Vec<String> = ["a", "bb", "ccc", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(columns_text(&names, 12), "a    d\nbb   e\nccc\n");
        assert_eq!(columns_text(&names, 3), "a\nbb\nccc\nd\ne\n");
    }
}
