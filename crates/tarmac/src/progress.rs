//! Progress for ingest commands: a bar on a terminal, plain lines otherwise
//! (CI logs and pipes read badly with carriage returns).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use ingest::Progress;

pub enum Reporter {
    /// A bar, cleared when done; with a label (`tarmac up`'s phases) a
    /// plain line `LABEL done/total UNIT` stays in its place.
    Bar(
        Mutex<Option<ProgressBar>>,
        Option<&'static str>,
        Mutex<String>,
    ),
    Lines {
        total: AtomicU64,
        done: AtomicU64,
        unit: Mutex<String>,
    },
}

impl Reporter {
    pub fn new() -> Self {
        Self::labelled(None)
    }

    /// A reporter whose bar (on a terminal) starts with `label` and stays
    /// on screen when done.
    pub fn labelled(label: Option<&'static str>) -> Self {
        if std::io::stderr().is_terminal() {
            Reporter::Bar(Mutex::new(None), label, Mutex::new(String::new()))
        } else {
            Reporter::Lines {
                total: AtomicU64::new(0),
                done: AtomicU64::new(0),
                unit: Mutex::new(String::new()),
            }
        }
    }
}

impl Progress for Reporter {
    fn begin(&self, unit: &str, total: u64) {
        match self {
            Reporter::Bar(bar, label, u) => {
                if let Ok(mut u) = u.lock() {
                    *u = unit.to_string();
                }
                let pb = ProgressBar::new(total);
                pb.set_style(
                    ProgressStyle::with_template(
                        "{prefix}{bar:40.cyan/blue} {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                if let Some(l) = label {
                    pb.set_prefix(format!("{l:<16}"));
                }
                pb.set_message(unit.to_string());
                if let Ok(mut b) = bar.lock() {
                    *b = Some(pb);
                }
            }
            Reporter::Lines {
                total: t,
                done,
                unit: u,
            } => {
                t.store(total, Ordering::Relaxed);
                done.store(0, Ordering::Relaxed);
                if let Ok(mut u) = u.lock() {
                    *u = unit.to_string();
                }
                eprintln!("{total} {unit} to do");
            }
        }
    }

    fn advance(&self, n: u64, what: &str) {
        match self {
            Reporter::Bar(bar, _, _) => {
                if let Ok(b) = bar.lock() {
                    if let Some(pb) = b.as_ref() {
                        pb.inc(n);
                        pb.set_message(what.to_string());
                    }
                }
            }
            Reporter::Lines { total, done, unit } => {
                let total = total.load(Ordering::Relaxed).max(1);
                let before = done.fetch_add(n, Ordering::Relaxed);
                let after = before + n;
                // a line every 10% and at the end
                if after * 10 / total != before * 10 / total || after == total {
                    let unit = unit.lock().map(|u| u.clone()).unwrap_or_default();
                    eprintln!("{after}/{total} {unit} done (last: {what})");
                }
            }
        }
    }

    fn log(&self, line: &str) {
        match self {
            Reporter::Bar(bar, _, _) => match bar.lock().ok().and_then(|b| b.clone()) {
                Some(pb) => pb.println(line),
                None => eprintln!("{line}"),
            },
            Reporter::Lines { .. } => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Reporter::Bar(bar, label, unit) = self {
            if let Ok(mut b) = bar.lock() {
                if let Some(pb) = b.take() {
                    // a finished bar left on screen would share its line
                    // with the next output: a plain line takes its place
                    pb.finish_and_clear();
                    if let Some(l) = label {
                        let unit = unit.lock().map(|u| u.clone()).unwrap_or_default();
                        eprintln!(
                            "{l:<16}{}/{} {unit}",
                            pb.position(),
                            pb.length().unwrap_or(0)
                        );
                    }
                }
            }
        }
    }
}
