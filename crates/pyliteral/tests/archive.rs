//! Round trip over the real archive of the old Python pipeline, if it is on this machine:
//! every `movement`, `aircraft` and `airline` cell of every file must convert, and writing the
//! result back as a Python repr must give the cell again, character for character.
//!
//! The archive is looked for in `$PYLITERAL_ARCHIVE`, then in `shared/` beside the repository
//! (`../shared` from its root); without it the test says so and passes.

use std::path::PathBuf;

use serde_json::Value;

const COLUMNS: [&str; 3] = ["movement", "aircraft", "airline"];

fn archive_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("PYLITERAL_ARCHIVE").map(PathBuf::from),
        Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/flightlabs-archive/BOG"),
        ),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

/// Every non-empty nested cell of every CSV file in `dir`: (file name, row, column, text).
fn cells(dir: &PathBuf) -> Vec<(String, usize, &'static str, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read archive dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut reader = csv::Reader::from_path(&path).expect("open csv");
        let headers = reader.headers().expect("csv header").clone();
        let idx: Vec<(usize, &'static str)> = COLUMNS
            .iter()
            .map(|c| {
                (
                    headers
                        .iter()
                        .position(|h| h == *c)
                        .unwrap_or_else(|| panic!("{name}: no column {c}")),
                    *c,
                )
            })
            .collect();
        for (row, record) in reader.records().enumerate() {
            let record = record.unwrap_or_else(|e| panic!("{name}: {e}"));
            for &(i, column) in &idx {
                let text = record.get(i).unwrap_or("");
                if !text.is_empty() {
                    out.push((name.clone(), row + 2, column, text.to_owned()));
                }
            }
        }
    }
    out
}

/// What Python's repr() prints for a value made of dicts, lists, strings, ints, bools, None.
fn python_repr(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            let q = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            out.push(q);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == q => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 || c == '\u{7f}' => {
                        out.push_str(&format!("\\x{:02x}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push(q);
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_repr(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_repr(&Value::String(k.clone()), out);
                out.push_str(": ");
                python_repr(item, out);
            }
            out.push('}');
        }
    }
}

#[test]
fn every_archive_cell_round_trips() {
    let Some(dir) = archive_dir() else {
        println!("skipped: no flightlabs archive found (set PYLITERAL_ARCHIVE to a folder of its CSV files)");
        return;
    };
    let cells = cells(&dir);
    assert!(!cells.is_empty(), "no cells in {}", dir.display());
    let mut json = String::new();
    let mut non_ascii = 0;
    for (file, row, column, text) in &cells {
        let at = format!("{file}:{row} {column}");
        json.clear();
        pyliteral::to_json(text, &mut json).unwrap_or_else(|e| panic!("{at}: {e}\n{text}"));
        let from_text: Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{at}: {e}\n{json}"));
        let value = pyliteral::parse(text).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(value, from_text, "{at}");

        let obj = value
            .as_object()
            .unwrap_or_else(|| panic!("{at}: not a dict"));
        match *column {
            "movement" => {
                assert!(obj["airport"].is_object(), "{at}: airport");
                assert!(
                    obj["scheduledTime"]["utc"].is_string(),
                    "{at}: scheduledTime.utc"
                );
            }
            "airline" => assert!(obj["name"].is_string(), "{at}: airline name"),
            _ => {}
        }
        non_ascii += usize::from(!text.is_ascii());

        let mut repr = String::new();
        python_repr(&value, &mut repr);
        assert_eq!(
            &repr, text,
            "{at}: repr of the parsed value differs from the cell"
        );
    }
    println!(
        "{} cells of {} round-tripped ({non_ascii} with non-ASCII text)",
        cells.len(),
        dir.display()
    );
}
