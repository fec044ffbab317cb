//! A cheap check of the warehouse file before DuckDB opens it.
//!
//! DuckDB checks a block's checksum only when it reads that block, so a file
//! cut in half opens without complaint, answers `count(*)` from its metadata,
//! and takes writes until a query touches a missing block ("Data Corruption
//! Error"). So the probe has two halves: [`check`] reads the two database
//! headers (4 KiB each, with DuckDB's own checksums) before DuckDB opens the
//! file; [`check_blocks`] asks DuckDB, once open, which blocks the tables'
//! data lives in, and compares the highest with the file's length. Cost: a
//! 12 KiB read, and one metadata query per table.
//!
//! Layout (DuckDB 1.x storage): a main header at 0 (checksum, `DUCK` at byte
//! 8), database headers at 4096 and 8192 (checksum, then iteration,
//! meta_block, free_list, block_count, ...), blocks from 12288 on.

use std::io::Read;
use std::path::Path;

const HEADER: usize = 4096;

/// Why the file is damaged, or Ok when it looks whole (or is not a file
/// this probe understands, which DuckDB will then judge itself).
pub fn check(path: &Path) -> Result<(), String> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(()); // missing or unreadable: DuckDB says why
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Ok(()); // an empty file: DuckDB initialises it
    }
    let mut buf = vec![0u8; 3 * HEADER];
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("cannot read its header: {e}")),
        }
    }
    if got < 12 || &buf[8..12] != b"DUCK" {
        return Ok(()); // not a DuckDB file: DuckDB's own error is clearer
    }
    if got < 3 * HEADER {
        return Err(format!(
            "the file is {len} bytes, shorter than DuckDB's headers ({} bytes)",
            3 * HEADER
        ));
    }
    let word = |at: usize| u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
    let mut best: Option<u64> = None; // the newest valid header's iteration
    let mut bad = 0;
    for h in [HEADER, 2 * HEADER] {
        if checksum(&buf[h + 8..h + HEADER]) != word(h) {
            bad += 1;
            continue;
        }
        let iteration = word(h + 8);
        if best.is_none_or(|i| iteration > i) {
            best = Some(iteration);
        }
    }
    if best.is_none() {
        return Err(format!(
            "both database headers fail their checksum ({bad} of 2)"
        ));
    }
    Ok(())
}

/// The second half of the probe, once DuckDB has read the catalog: the
/// highest block any table's data lives in must lie inside the file. The
/// header's block count cannot say this (DuckDB truncates free blocks at the
/// end of the file and keeps counting them), but each table's storage info
/// names its blocks and costs a metadata read, not a data scan.
pub fn check_blocks(conn: &duckdb::Connection, path: &Path) -> Result<(), String> {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let q = |e: duckdb::Error| e.to_string();
    let block_size: i64 = conn
        .query_row(
            "SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()",
            [],
            |r| r.get(0),
        )
        .map_err(q)?;
    let mut stmt = conn
        .prepare(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()",
        )
        .map_err(q)?;
    let tables: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(q)?
        .collect::<Result<_, _>>()
        .map_err(q)?;
    let ident = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut highest: i64 = -1;
    for (schema, table) in &tables {
        let name = format!("{}.{}", ident(schema), ident(table)).replace('\'', "''");
        let max: Option<i64> = conn
            .query_row(
                &format!(
                    "SELECT max(block_id) FROM pragma_storage_info('{name}') WHERE block_id >= 0"
                ),
                [],
                |r| r.get(0),
            )
            .map_err(q)?;
        highest = highest.max(max.unwrap_or(-1));
    }
    if highest >= 0 {
        let need = (3 * HEADER) as u64 + (highest as u64 + 1) * block_size as u64;
        if len < need {
            return Err(format!(
                "the file is {len} bytes but its data reaches block {highest} ({need} bytes): it was cut short"
            ));
        }
    }
    Ok(())
}

/// DuckDB's checksum of a buffer whose length is a multiple of 8 (the
/// headers are): 5381 xor the product of each little-endian word with an odd
/// constant.
fn checksum(buf: &[u8]) -> u64 {
    let mut result: u64 = 5381;
    for w in buf.chunks_exact(8) {
        let x = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        result ^= x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(dir: &Path) -> std::path::PathBuf {
        let p = dir.join("w.duckdb");
        let c = duckdb::Connection::open(&p).unwrap();
        c.execute_batch(
            "create table t as select range as i, repeat('x', 100) as s from range(200000); checkpoint;",
        )
        .unwrap();
        drop(c);
        p
    }

    #[test]
    fn a_whole_file_passes_and_a_cut_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = make(dir.path());
        assert_eq!(check(&p), Ok(()));
        let c = duckdb::Connection::open(&p).unwrap();
        assert_eq!(check_blocks(&c, &p), Ok(()));
        drop(c);
        let len = std::fs::metadata(&p).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len / 2).unwrap();
        assert_eq!(check(&p), Ok(()), "the headers are whole");
        // DuckDB itself fails when a metadata block is gone; when only data
        // blocks are, it opens, and the block check tells
        match duckdb::Connection::open(&p) {
            Ok(c) => {
                let e = check_blocks(&c, &p).expect_err("half a file");
                assert!(e.contains("cut short"), "{e}");
            }
            Err(e) => assert!(
                matches!(crate::classify(&e.to_string()), crate::Kind::Damaged(_)),
                "{e}"
            ),
        }
        f.set_len(5000).unwrap();
        assert!(check(&p).expect_err("headers cut").contains("shorter"));
    }

    #[test]
    fn a_damaged_header_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let p = make(dir.path());
        let mut bytes = std::fs::read(&p).unwrap();
        for b in &mut bytes[HEADER + 16..HEADER + 64] {
            *b ^= 0x5a;
        }
        for b in &mut bytes[2 * HEADER + 16..2 * HEADER + 64] {
            *b ^= 0x5a;
        }
        std::fs::write(&p, &bytes).unwrap();
        assert!(check(&p).expect_err("headers").contains("checksum"));
    }

    #[test]
    fn other_files_are_left_to_duckdb() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.duckdb");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(check(&p), Ok(()));
        assert_eq!(check(&dir.path().join("missing")), Ok(()));
    }

    #[test]
    fn a_file_missing_its_last_data_blocks_is_told_after_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = make(dir.path());
        let len = std::fs::metadata(&p).unwrap().len();
        let c = duckdb::Connection::open(&p).unwrap();
        let block: u64 = c
            .query_row("SELECT block_size FROM pragma_database_size()", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap() as u64;
        drop(c);
        // cut one block at a time from the end until DuckDB still opens but
        // a table's data is gone: the block check must see it
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        let mut cut = len;
        let mut told = false;
        while cut > 3 * HEADER as u64 + block {
            cut -= block;
            f.set_len(cut).unwrap();
            if let Ok(c) = duckdb::Connection::open(&p) {
                if check_blocks(&c, &p).is_err() {
                    told = true;
                    break;
                }
            } else {
                told = true; // DuckDB refused it itself: damage is told too
                break;
            }
        }
        assert!(told, "a cut file always shows");
    }
}
