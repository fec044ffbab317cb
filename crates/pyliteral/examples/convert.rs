//! Converts Python literals on standard input to JSON on standard output, one per line.
//!
//! ```text
//! echo "{'a': (1, None)}" | cargo run -q -p pyliteral --example convert
//! ```
//!
//! With `--json-lines`, each input line is instead a JSON string holding the literal's source
//! (so literals may contain newlines). A literal that cannot be read gives a line
//! `ERROR <message>`. Handy for comparing with Python's `ast.literal_eval` in bulk.

use std::io::{BufRead, Write};

fn main() {
    let json_lines = std::env::args().any(|a| a == "--json-lines");
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut out = String::new();
    for line in stdin.lines() {
        let line = line.expect("read standard input");
        let src = if json_lines {
            serde_json::from_str::<String>(&line).expect("a JSON string per line")
        } else {
            line
        };
        out.clear();
        match pyliteral::to_json(&src, &mut out) {
            Ok(()) => writeln!(stdout, "{out}"),
            Err(e) => writeln!(stdout, "ERROR {e}"),
        }
        .expect("write standard output");
    }
}
