//! Throughput of `to_json` (and `parse`) on the real archive cells.
//!
//! ```text
//! cargo run --release -p pyliteral --example bench [ARCHIVE_DIR] [SECONDS]
//! ```
//!
//! ARCHIVE_DIR defaults to `../shared/flightlabs-archive/BOG` from the repository's root; every `movement`, `aircraft`
//! and `airline` cell of its CSV files is converted over and over for SECONDS (default 3) on
//! one thread, and MB/s (of Python literal text read) and literals/s are printed, per second of
//! wall time and, on Linux, per second of this thread's CPU time (what counts on a busy machine).

use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/flightlabs-archive/BOG"
        )
        .into()
    });
    let seconds: f64 = args.next().map_or(3.0, |s| s.parse().expect("SECONDS"));

    let mut cells = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    paths.sort();
    for path in &paths {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let headers = reader.headers().unwrap().clone();
        let idx: Vec<usize> = ["movement", "aircraft", "airline"]
            .iter()
            .filter_map(|c| headers.iter().position(|h| h == *c))
            .collect();
        for record in reader.records() {
            let record = record.unwrap();
            for &i in &idx {
                let cell = &record[i];
                if !cell.is_empty() {
                    cells.push(cell.to_owned());
                }
            }
        }
    }
    let bytes: usize = cells.iter().map(String::len).sum();
    println!(
        "{} cells, {:.2} MB, {:.0} bytes/cell on average, from {} files",
        cells.len(),
        bytes as f64 / 1e6,
        bytes as f64 / cells.len() as f64,
        paths.len()
    );

    let budget = Duration::from_secs_f64(seconds);
    let mut out = String::with_capacity(4096);
    let (rounds, took) = run(budget, || {
        for cell in &cells {
            out.clear();
            pyliteral::to_json(black_box(cell), &mut out).unwrap();
            black_box(&out);
        }
    });
    report("to_json", rounds, took, bytes, cells.len());

    let (rounds, took) = run(budget, || {
        for cell in &cells {
            black_box(pyliteral::parse(black_box(cell)).unwrap());
        }
    });
    report("parse", rounds, took, bytes, cells.len());
}

struct Took {
    wall: Duration,
    cpu: Option<f64>,
}

fn run(budget: Duration, mut round: impl FnMut()) -> (usize, Took) {
    round(); // warm up
    let cpu0 = thread_cpu_seconds();
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < budget {
        round();
        rounds += 1;
    }
    let wall = start.elapsed();
    let cpu = thread_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    (rounds, Took { wall, cpu })
}

/// User + system CPU time of this thread, from /proc (Linux; 10 ms resolution).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn report(name: &str, rounds: usize, took: Took, bytes: usize, cells: usize) {
    let s = took.wall.as_secs_f64();
    let mb = (bytes * rounds) as f64 / 1e6;
    print!(
        "{name:8} {:8.1} MB/s  {:10.0} literals/s  ({rounds} rounds in {s:.2} s wall, one thread)",
        mb / s,
        (cells * rounds) as f64 / s,
    );
    match took.cpu {
        Some(cpu) if cpu > 0.0 => println!("; per CPU second: {:.1} MB/s", mb / cpu),
        _ => println!(),
    }
}
