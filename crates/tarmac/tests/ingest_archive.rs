//! `tarmac ingest import` on the old pipeline's CSV archive.

mod common;

use std::path::Path;

use common::*;

fn import(dir: &Path, paths: &[&Path]) -> std::process::Output {
    run(tarmac(dir).args(["ingest", "import"]).args(paths))
}

#[test]
fn imports_the_shared_archive_once() {
    let Some(archive) = shared_archive() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = import(dir.path(), &[&archive]);
    assert!(out.status.success(), "{}", text(&out));
    let (records, bad) = (bronze_records(dir.path()), quarantined(dir.path()));
    assert_eq!(
        records + bad,
        12_665,
        "every record of the archive is in bronze or quarantine"
    );
    // seven cargo records (TAESCOL, GIRAG) carry an empty `number`: real
    // movements, in bronze with a NULL number, nothing quarantined
    assert_eq!(bad, 0);
    assert_eq!(
        query_i64(
            dir.path(),
            r#"SELECT count(*) FROM bronze.flightlabs_historical WHERE number IS NULL AND record->>'$.number' = ''"#
        ),
        7
    );
    assert_eq!(
        query_i64(
            dir.path(),
            "SELECT count(DISTINCT flight_date) FROM bronze.flightlabs_historical"
        ),
        21
    );
    assert_eq!(
        query_i64(
            dir.path(),
            "SELECT count(DISTINCT source_file) FROM bronze.flightlabs_historical"
        ),
        21
    );
    // literals parsed, not quote-swapped: non-ASCII and apostrophes intact
    assert!(query_i64(dir.path(), "SELECT count(*) FROM bronze.flightlabs_historical WHERE record->>'$.movement.airport.name' = 'Cúcuta'") > 0);
    assert_eq!(query_i64(dir.path(), "SELECT count(*) FROM bronze.flightlabs_historical WHERE record->>'$.movement.airport.name' LIKE '%\"%'"), 0);

    let out = import(dir.path(), &[&archive]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("imported 0 files (21 already imported, 0 failed)"),
        "{}",
        text(&out)
    );
    assert_eq!(bronze_records(dir.path()), records);

    let out = run(tarmac(dir.path()).args(["ingest", "replay"]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bronze_records(dir.path()), records);
}

#[test]
fn the_same_day_under_both_name_styles_is_kept_twice() {
    let Some(archive) = shared_archive() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::copy(archive.join("2024-08-12.csv"), src.join("2024-08-12.csv")).unwrap();
    std::fs::copy(archive.join("2024-08-12.csv"), src.join("2024_08_12.csv")).unwrap();
    let out = import(dir.path(), &[&src]);
    assert!(out.status.success(), "{}", text(&out));
    let day = "flight_date = DATE '2024-08-12'";
    let one_file = query_i64(dir.path(), &format!("SELECT count(*) FROM bronze.flightlabs_historical WHERE {day} AND source_file = '2024-08-12.csv'"));
    assert!(one_file > 500);
    // both files are observations of the day, with their provenance
    assert_eq!(
        query_i64(
            dir.path(),
            &format!("SELECT count(*) FROM bronze.flightlabs_historical WHERE {day}")
        ),
        2 * one_file
    );
    assert_eq!(
        query_i64(
            dir.path(),
            &format!(
                "SELECT count(DISTINCT source_file) FROM bronze.flightlabs_historical WHERE {day}"
            )
        ),
        2
    );
    // again: nothing new
    let out = import(dir.path(), &[&src]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported 0 files (2 already imported"),
        "{}",
        text(&out)
    );
    // a later fetch of the same day under the same name (other bytes): a new observation
    let later = std::fs::read_to_string(archive.join("2024-08-12.csv"))
        .unwrap()
        .replacen(",Unknown,", ",Departed,", 1);
    std::fs::write(src.join("2024_08_12.csv"), later).unwrap();
    let out = import(dir.path(), &[&src]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported 1 files (1 already imported"),
        "{}",
        text(&out)
    );
    assert_eq!(
        query_i64(
            dir.path(),
            &format!("SELECT count(*) FROM bronze.flightlabs_historical WHERE {day}")
        ),
        3 * one_file
    );
}

const HEADER: &str = "movement,number,status,codeshareStatus,isCargo,aircraft,airline,callSign,code,flight_type,date\n";
const ROW: &str = "\"{'airport': {'icao': 'SKCL', 'iata': 'CLO', 'name': 'Santiago de Cali', 'timeZone': 'America/Bogota'}, 'scheduledTime': {'utc': '2024-08-12 17:00Z', 'local': '2024-08-12 12:00-05:00'}, 'terminal': '1', 'quality': ['Basic']}\",AV 9227,Unknown,Unknown,False,{'model': 'Airbus A319'},\"{'name': 'Avianca', 'iata': 'AV', 'icao': 'AVA'}\",,BOG,departure,2024-08-12\n";

#[test]
fn bad_files_get_clear_errors_and_bad_rows_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("2024-08-12.csv"), format!("{HEADER}{ROW}{ROW}")).unwrap();
    let broken = ROW.replace("'terminal': '1'", "'terminal: '1'");
    std::fs::write(src.join("2024-08-13.csv"), format!("{HEADER}{ROW}{broken}")).unwrap();
    std::fs::write(
        src.join("2024-08-14.csv"),
        format!("{}{ROW}", HEADER.replace("callSign", "callsign")),
    )
    .unwrap();
    std::fs::write(src.join("2024-08-15.csv"), "").unwrap();
    let out = import(dir.path(), &[&src]);
    assert!(
        !out.status.success(),
        "failed files make the exit code non-zero"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2024-08-14.csv: unknown column `callsign`"),
        "{}",
        text(&out)
    );
    assert!(
        err.contains("2024-08-15.csv: the file is empty"),
        "{}",
        text(&out)
    );
    // the good rows of the good files are in; the broken row is quarantined with its reason
    assert_eq!(bronze_records(dir.path()), 3);
    assert_eq!(quarantined(dir.path()), 1);
    assert_eq!(
        query_i64(dir.path(), "SELECT count(*) FROM bronze.quarantine WHERE reason LIKE 'archive line 3: movement:%' AND raw LIKE '%AV 9227%'"),
        1
    );
    // fixing the files and importing again adds only what is new
    std::fs::write(src.join("2024-08-14.csv"), format!("{HEADER}{ROW}")).unwrap();
    std::fs::remove_file(src.join("2024-08-15.csv")).unwrap();
    let out = import(dir.path(), &[&src]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bronze_records(dir.path()), 4);

    let out = import(dir.path(), &[&dir.path().join("missing")]);
    assert!(!out.status.success());
    assert!(text(&out).contains("missing"), "{}", text(&out));
}

/// Everything bronze holds, as one text, except load times (which differ
/// between runs by nature).
#[test]
fn an_import_killed_at_any_moment_resumes_to_the_same_bronze() {
    let Some(archive) = shared_archive() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // four day files (~2,400 records) keep each run short
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".csv"))
        .collect();
    names.sort();
    for n in names.iter().take(4) {
        std::fs::copy(archive.join(n), src.join(n)).unwrap();
    }

    // the uninterrupted run
    let reference = tmp.path().join("reference");
    std::fs::create_dir(&reference).unwrap();
    let started = std::time::Instant::now();
    let out = import(&reference, &[&src]);
    let full = started.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    let expected = bronze_digest(&reference);
    let expected_bodies = landed_bodies(&reference);
    assert!(expected.starts_with(&format!("{} ", bronze_records(&reference))));

    // kill at spread-out moments of a run (some before it opens the
    // warehouse, some mid-conversion, mid-load or mid-commit), then rerun
    const KILLS: usize = 24;
    let budget = std::time::Duration::from_secs(300);
    let mut rng = Lcg(0x5eed);
    let mut resumed_something = 0;
    for trial in 0..KILLS {
        assert!(
            started.elapsed() < budget,
            "the kill test ran out of its time budget after {trial} kills"
        );
        let dir = tmp.path().join(format!("kill-{trial}"));
        std::fs::create_dir(&dir).unwrap();
        // stratified: kill `trial` lands in its own slice of the run
        let at = full.mul_f64((trial as f64 + rng.next()) / KILLS as f64);
        let mut child = tarmac(&dir)
            .args(["ingest", "import"])
            .arg(&src)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn tarmac");
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        let out = import(&dir, &[&src]);
        assert!(
            out.status.success(),
            "after a kill at {at:?}: {}",
            text(&out)
        );
        // the killed run had landed something: the rerun resumed it, or
        // found files already imported
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stdout.contains("resumed:") || !stdout.contains("(0 already imported") {
            resumed_something += 1;
        }
        assert_eq!(
            bronze_digest(&dir),
            expected,
            "bronze after a kill at {at:?} and a rerun differs from an uninterrupted run"
        );
        assert_eq!(landed_bodies(&dir), expected_bodies, "kill at {at:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // the kills did land mid-run, not all before or after it
    assert!(
        resumed_something > 0,
        "no kill interrupted the run after it had landed something"
    );
}
