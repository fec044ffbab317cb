//! Running a job's steps: each step is a child process of this same binary.
//!
//! Why child processes and not library calls: a step that panics, leaks or
//! hangs takes only itself down; a timeout is enforced by killing it (an
//! in-process future cannot be stopped inside a blocking DuckDB call); its
//! stdout/stderr are the run's logs as a user would see them; DuckDB's file
//! lock is released by the kernel when the child exits; and the orchestrator
//! needs no link to the ingest or engine crates. Dagster runs ops in
//! subprocesses for the same reasons. Costs: a process start (~10 ms) and a
//! fresh DuckDB open per step, negligible next to a step's work.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::config::{partition_args, Job};
use crate::history::History;
use crate::locks::FileLock;
use crate::retry::{backoff, retryable, Failure};

/// What every run needs from its surroundings.
#[derive(Clone)]
pub struct Env {
    /// The `tarmac` binary (`std::env::current_exe()`).
    pub exe: PathBuf,
    /// Passed to every step as `--config`.
    pub config_file: Option<PathBuf>,
    /// Steps run here (the config file's folder).
    pub workdir: PathBuf,
    pub state_dir: PathBuf,
    /// A digest of what the landing zone holds, which changes whenever a
    /// body lands (`on_new_data` jobs). The binary supplies it: the landing
    /// zone may be a folder or a bucket, and only the ingest crate reads it.
    pub landing_mark: LandingMark,
    pub warehouse: PathBuf,
    /// Removed from every log line and alert.
    pub secrets: Vec<String>,
    /// Copy step output to our stderr (`tarmac run-job`).
    pub echo: bool,
}

/// See [`Env::landing_mark`]; an error reads as "unknown" and triggers
/// nothing until the landing zone answers again.
pub type LandingMark = std::sync::Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("exe", &self.exe)
            .field("config_file", &self.config_file)
            .field("workdir", &self.workdir)
            .field("state_dir", &self.state_dir)
            .field("warehouse", &self.warehouse)
            .field("echo", &self.echo)
            .finish_non_exhaustive()
    }
}

impl Env {
    /// The binary's one redaction helper (`flightlabs::scrub_all`) with
    /// this orchestrator's secrets.
    pub fn scrub(&self, text: &str) -> String {
        flightlabs::scrub_all(text, self.secrets.iter().map(String::as_str))
    }
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success,
    Failed { step: usize, error: String },
}

pub type SharedHistory = Arc<Mutex<History>>;

/// Locks the history; a poisoned lock (a panic elsewhere) is still usable
/// since every write is a single statement or transaction.
pub fn lock(h: &SharedHistory) -> std::sync::MutexGuard<'_, History> {
    h.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Runner {
    pub env: Arc<Env>,
    pub history: SharedHistory,
}

impl Runner {
    fn log(&self, run: i64, step: Option<(i64, i64)>, level: &str, msg: &str) {
        if self.env.echo {
            eprintln!("{msg}");
        }
        if let Err(e) = lock(&self.history).log(run, step, "tarmac", level, msg) {
            tracing::warn!("cannot write a log line to the run history: {e}");
        }
    }

    /// Runs `job`'s steps from `start_step` for run `run`, with retries, and
    /// records the run's start and end. Does not send alerts.
    pub async fn run(
        &self,
        run: i64,
        job: &Job,
        partition: Option<NaiveDate>,
        start_step: usize,
    ) -> Outcome {
        if let Err(e) = lock(&self.history).start_run(run) {
            tracing::warn!("run {run}: {e}");
        }
        let what = match partition {
            Some(p) => format!("job `{}` run {run} (partition {p})", job.name),
            None => format!("job `{}` run {run}", job.name),
        };
        self.log(
            run,
            None,
            "info",
            &format!(
                "{what}: {} step(s) from step {}",
                job.steps.len() - start_step.min(job.steps.len()),
                start_step + 1
            ),
        );
        let outcome = self.steps(run, job, partition, start_step).await;
        let (status, step, error) = match &outcome {
            Outcome::Success => ("success", None, None),
            Outcome::Failed { step, error } => ("failed", Some(*step as i64), Some(error.as_str())),
        };
        match &outcome {
            Outcome::Success => self.log(run, None, "info", &format!("{what} succeeded")),
            Outcome::Failed { step, error } => self.log(
                run,
                None,
                "error",
                &format!(
                    "{what} failed at step {} `{}`: {error}",
                    step + 1,
                    job.steps[*step].text
                ),
            ),
        }
        if let Err(e) = lock(&self.history).finish_run(run, status, step, error) {
            tracing::warn!("run {run}: {e}");
        }
        outcome
    }

    async fn steps(
        &self,
        run: i64,
        job: &Job,
        partition: Option<NaiveDate>,
        start_step: usize,
    ) -> Outcome {
        for (idx, step) in job.steps.iter().enumerate().skip(start_step) {
            let argv = partition_args(step, partition);
            let mut attempt: u32 = 1;
            loop {
                let at = Some((idx as i64, attempt as i64));
                let wait_start = Instant::now();
                let lock_path = self.env.state_dir.join("warehouse.lock");
                let held = FileLock::acquire(&lock_path, || {
                    self.log(
                        run,
                        at,
                        "info",
                        "waiting for the warehouse (another step is writing it)",
                    )
                })
                .await;
                let _lock = match held {
                    Ok(l) => l,
                    Err(e) => {
                        return Outcome::Failed {
                            step: idx,
                            error: e.to_string(),
                        }
                    }
                };
                if wait_start.elapsed() > Duration::from_millis(100) {
                    self.log(
                        run,
                        at,
                        "info",
                        &format!(
                            "got the warehouse after {}",
                            crate::locks::since(wait_start)
                        ),
                    );
                }
                // API steps need no spacing here: every process's client
                // shares the plan's window live (flightlabs::shared_window)
                self.log(
                    run,
                    at,
                    "info",
                    &format!("step {} `{}` attempt {attempt}", idx + 1, step.text),
                );
                if let Err(e) = lock(&self.history).start_step(
                    run,
                    idx as i64,
                    attempt as i64,
                    &step.text,
                    &argv,
                ) {
                    tracing::warn!("run {run}: {e}");
                }
                let started = Instant::now();
                let result = self.child(run, idx, attempt, &argv, job.timeout).await;
                drop(_lock);
                let (status, code, err) = match &result {
                    Ok(()) => ("success", Some(0), None),
                    Err(f) => (
                        if matches!(f, Failure::Timeout(_)) {
                            "timeout"
                        } else {
                            "failed"
                        },
                        match f {
                            Failure::Exit { code, .. } => code.map(i64::from),
                            _ => None,
                        },
                        Some(self.env.scrub(&f.message())),
                    ),
                };
                if let Err(e) = lock(&self.history).finish_step(
                    run,
                    idx as i64,
                    attempt as i64,
                    status,
                    code,
                    err.as_deref(),
                ) {
                    tracing::warn!("run {run}: {e}");
                }
                match result {
                    Ok(()) => {
                        self.log(
                            run,
                            at,
                            "info",
                            &format!("step {} done in {}", idx + 1, crate::locks::since(started)),
                        );
                        break;
                    }
                    Err(f) => {
                        let msg = self.env.scrub(&f.message());
                        let can = retryable(&job.retry, &f);
                        if attempt <= job.retry.retries && can {
                            let d = backoff(&job.retry, attempt, &mut rand::rng());
                            self.log(
                                run,
                                at,
                                "warn",
                                &format!(
                                    "step {} failed: {msg}; retry {attempt} of {} in {}",
                                    idx + 1,
                                    job.retry.retries,
                                    crate::duration::human(d)
                                ),
                            );
                            tokio::time::sleep(d).await;
                            attempt += 1;
                            continue;
                        }
                        if !can && job.retry.retries > 0 {
                            self.log(
                                run,
                                at,
                                "error",
                                &format!(
                                    "step {} failed: {msg}; not retried ({})",
                                    idx + 1,
                                    if matches!(
                                        f,
                                        Failure::Exit {
                                            code: Some(crate::retry::FINAL_EXIT),
                                            ..
                                        }
                                    ) {
                                        "a final error: exit 2"
                                    } else {
                                        "never_retry"
                                    }
                                ),
                            );
                        }
                        return Outcome::Failed {
                            step: idx,
                            error: msg,
                        };
                    }
                }
            }
        }
        Outcome::Success
    }

    /// One child process; its output lines go to the history as they come.
    async fn child(
        &self,
        run: i64,
        idx: usize,
        attempt: u32,
        argv: &[String],
        timeout: Option<Duration>,
    ) -> Result<(), Failure> {
        let mut cmd = tokio::process::Command::new(&self.env.exe);
        if let Some(c) = &self.env.config_file {
            cmd.arg("--config").arg(c);
        }
        cmd.args(argv)
            .current_dir(&self.env.workdir)
            .env("TARMAC_RUN_ID", run.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to
        // SIGKILL the child when its parent thread dies, so a kill -9 of the
        // orchestrator does not leave steps holding the warehouse.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| Failure::Spawn(e.to_string()))?;
        let pid = child.id();
        let last_error = Arc::new(Mutex::new(None::<String>));
        let at = (idx as i64, attempt as i64);
        let out = child
            .stdout
            .take()
            .map(|s| self.pump(run, at, "stdout", s, last_error.clone()));
        let err = child
            .stderr
            .take()
            .map(|s| self.pump(run, at, "stderr", s, last_error.clone()));
        let waited = match timeout {
            Some(t) => tokio::time::timeout(t, child.wait()).await,
            None => Ok(child.wait().await),
        };
        let status = match waited {
            Ok(s) => s,
            Err(_) => {
                if let Some(pid) = pid {
                    kill_group(pid as i32, libc::SIGTERM);
                    if tokio::time::timeout(Duration::from_secs(5), child.wait())
                        .await
                        .is_err()
                    {
                        kill_group(pid as i32, libc::SIGKILL);
                    }
                }
                let _ = child.wait().await;
                for h in [out, err].into_iter().flatten() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
                }
                return Err(Failure::Timeout(timeout.unwrap_or_default()));
            }
        };
        for h in [out, err].into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
        let status = status.map_err(|e| Failure::Spawn(e.to_string()))?;
        if status.success() {
            return Ok(());
        }
        use std::os::unix::process::ExitStatusExt;
        let code = status.code();
        let signal = status.signal();
        let error = last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| match (code, signal) {
                (Some(c), _) => format!("exited with status {c}"),
                (None, Some(s)) => format!("killed by signal {s}"),
                _ => "failed".into(),
            });
        Err(Failure::Exit {
            code,
            signal,
            error,
        })
    }

    fn pump<R: AsyncRead + Unpin + Send + 'static>(
        &self,
        run: i64,
        at: (i64, i64),
        stream: &'static str,
        r: R,
        last_error: Arc<Mutex<Option<String>>>,
    ) -> tokio::task::JoinHandle<()> {
        let history = self.history.clone();
        let env = self.env.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(r);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&buf);
                // progress bars redraw with \r: keep the last state of a line
                let line = text
                    .trim_end_matches(['\n', '\r'])
                    .rsplit('\r')
                    .next()
                    .unwrap_or("");
                let mut line = env.scrub(line);
                if line.trim().is_empty() {
                    continue;
                }
                if line.len() > 8192 {
                    let mut cut = 8192;
                    while !line.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    line.truncate(cut);
                    line.push('…');
                }
                let level = if let Some(e) = line.strip_prefix("error: ") {
                    *last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    "error"
                } else if line.contains("WARN") || line.starts_with("warning:") {
                    "warn"
                } else {
                    "info"
                };
                if env.echo {
                    eprintln!("  | {line}");
                }
                if let Err(e) = lock(&history).log(run, Some(at), stream, level, &line) {
                    tracing::warn!("cannot write a log line to the run history: {e}");
                }
            }
        })
    }
}

fn kill_group(pid: i32, sig: i32) {
    // SAFETY: sending a signal to the process group we created for the child.
    unsafe {
        libc::kill(-pid, sig);
    }
}

/// Whether a process that may own a run is still alive (and is a tarmac).
pub fn process_alive(pid: i64) -> bool {
    if pid <= 0 || pid == std::process::id() as i64 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence.
    let exists = unsafe { libc::kill(pid as i32, 0) == 0 };
    if !exists {
        return false;
    }
    // a recycled pid belongs to some other program
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(c) => String::from_utf8_lossy(&c).contains("tarmac"),
        Err(_) => true,
    }
}
