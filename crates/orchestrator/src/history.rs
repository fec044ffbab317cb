//! The run history: an embedded SQLite database (`<state_dir>/state.sqlite`).
//!
//! Why SQLite and not DuckDB (which the warehouse uses): the history takes
//! many small writes (a row per log line) from several processes at once —
//! `tarmac orchestrate`, a `tarmac run-job` in a terminal, `tarmac runs`
//! reading. SQLite in WAL mode lets readers read while one writer writes and
//! serialises writers with a busy timeout; DuckDB lets one process open a
//! file for writing and blocks every other process, readers included.
//!
//! Migrations: `schema_version` holds one row per applied migration; each
//! migration runs in one `BEGIN IMMEDIATE` transaction (two processes starting
//! at once cannot both apply it). A database from a newer Tarmac is refused.
//! Times are milliseconds since the Unix epoch (UTC).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::error::{Error, Result};

/// (version, description, SQL). Append only: never edit a released migration.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "runs, steps, logs, job state",
        r#"
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    job           TEXT NOT NULL,
    status        TEXT NOT NULL,   -- queued running success failed interrupted skipped
    trigger       TEXT NOT NULL,   -- schedule manual backfill catch_up new_data rerun retry
    partition     TEXT,            -- YYYY-MM-DD
    scheduled_for INTEGER,
    queued_at     INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    start_step    INTEGER NOT NULL DEFAULT 0,
    parent_run    INTEGER REFERENCES runs(id),
    failed_step   INTEGER,
    error         TEXT,
    config        TEXT NOT NULL,   -- JSON: the job as it ran
    owner_pid     INTEGER,         -- the process that runs it
    recovered     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_job ON runs(job, id);
CREATE INDEX runs_status ON runs(status, id);
CREATE INDEX runs_partition ON runs(partition, job, id);
CREATE TABLE steps (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    idx         INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    argv        TEXT NOT NULL,     -- JSON array
    status      TEXT NOT NULL,     -- running success failed interrupted
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    exit_code   INTEGER,
    error       TEXT,
    PRIMARY KEY (run_id, idx, attempt)
);
CREATE TABLE logs (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL REFERENCES runs(id),
    step_idx INTEGER,
    attempt  INTEGER,
    ts       INTEGER NOT NULL,
    stream   TEXT NOT NULL,        -- stdout stderr tarmac
    level    TEXT NOT NULL,        -- info warn error
    message  TEXT NOT NULL
);
CREATE INDEX logs_run ON logs(run_id, id);
CREATE TABLE job_state (
    job       TEXT PRIMARY KEY,
    paused    INTEGER NOT NULL DEFAULT 0,
    last_fire INTEGER,             -- the last schedule instant handled
    data_mark TEXT                 -- landing-zone fingerprint (on_new_data)
);
"#,
    ),
    (
        2,
        "alert outbox",
        r#"
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    kind            TEXT NOT NULL,  -- failure recovery success
    channel         TEXT NOT NULL,  -- email webhook
    status          TEXT NOT NULL,  -- pending sent failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL
);
CREATE INDEX alerts_due ON alerts(status, next_attempt_at);
"#,
    ),
    (
        3,
        "latest run per job and partition, kept by triggers (the backfill grid)",
        r#"
CREATE TABLE partition_status (
    partition TEXT NOT NULL,
    job       TEXT NOT NULL,
    run_id    INTEGER NOT NULL,
    status    TEXT NOT NULL,
    PRIMARY KEY (partition, job)
) WITHOUT ROWID;
INSERT INTO partition_status
    SELECT partition, job, id, status FROM runs WHERE id IN (
        SELECT max(id) FROM runs WHERE partition IS NOT NULL AND status != 'skipped' GROUP BY partition, job);
CREATE TRIGGER runs_partition_insert AFTER INSERT ON runs
WHEN NEW.partition IS NOT NULL AND NEW.status != 'skipped'
BEGIN
    INSERT INTO partition_status VALUES (NEW.partition, NEW.job, NEW.id, NEW.status)
    ON CONFLICT (partition, job) DO UPDATE SET run_id = excluded.run_id, status = excluded.status
    WHERE excluded.run_id >= partition_status.run_id;
END;
CREATE TRIGGER runs_partition_update AFTER UPDATE OF status ON runs
WHEN NEW.partition IS NOT NULL
BEGIN
    UPDATE partition_status SET status = NEW.status
    WHERE partition = NEW.partition AND job = NEW.job AND run_id = NEW.id;
END;
"#,
    ),
];

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub job: String,
    pub status: String,
    pub trigger: String,
    pub partition: Option<String>,
    pub scheduled_for: Option<i64>,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub start_step: i64,
    pub parent_run: Option<i64>,
    pub failed_step: Option<i64>,
    pub error: Option<String>,
    pub owner_pid: Option<i64>,
}

const RUN_COLS: &str = "id, job, status, trigger, partition, scheduled_for, queued_at, started_at, finished_at, start_step, parent_run, failed_step, error, owner_pid";

fn run_row(r: &Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        job: r.get(1)?,
        status: r.get(2)?,
        trigger: r.get(3)?,
        partition: r.get(4)?,
        scheduled_for: r.get(5)?,
        queued_at: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
        start_step: r.get(9)?,
        parent_run: r.get(10)?,
        failed_step: r.get(11)?,
        error: r.get(12)?,
        owner_pid: r.get(13)?,
    })
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepRow {
    pub idx: i64,
    pub attempt: i64,
    pub name: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogRow {
    pub id: i64,
    pub step_idx: Option<i64>,
    pub attempt: Option<i64>,
    pub ts: i64,
    pub stream: String,
    pub level: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub run_id: i64,
    pub kind: String,
    pub channel: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub subject: String,
    pub body: String,
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub job: String,
    pub trigger: String,
    pub status: String,
    pub partition: Option<String>,
    pub scheduled_for: Option<i64>,
    pub start_step: i64,
    pub parent_run: Option<i64>,
    pub error: Option<String>,
    pub config: String,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub job: Option<String>,
    pub status: Option<String>,
    /// Keyset pagination: runs with a smaller id.
    pub before: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, Clone, Default)]
pub struct JobState {
    pub paused: bool,
    pub last_fire: Option<i64>,
    pub data_mark: Option<String>,
}

pub struct History {
    conn: Connection,
    path: PathBuf,
}

impl History {
    pub fn open(path: &Path) -> Result<History> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
            }
        }
        let wrap = |source| Error::History {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(wrap)?;
        conn.busy_timeout(std::time::Duration::from_secs(15))
            .map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(wrap)?;
        let mut h = History {
            conn,
            path: path.to_path_buf(),
        };
        h.migrate(MIGRATIONS)?;
        Ok(h)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies the migrations this database has not seen.
    pub fn migrate(&mut self, migrations: &[(i64, &str, &str)]) -> Result<()> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )?;
        let known = migrations.iter().map(|m| m.0).max().unwrap_or(0);
        for &(version, description, sql) in migrations {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let current: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )?;
            if current > known {
                return Err(Error::Invalid(format!(
                    "{} has schema version {current}, newer than this tarmac knows ({known}); upgrade tarmac",
                    self.path.display()
                )));
            }
            if version > current {
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_version VALUES (?1, ?2, ?3)",
                    params![version, description, now_ms()],
                )?;
            }
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn create_runs(&mut self, runs: &[NewRun]) -> Result<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(runs.len());
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO runs (job, status, trigger, partition, scheduled_for, queued_at, start_step, parent_run, error, config, owner_pid, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, CASE WHEN ?2 = 'skipped' THEN ?6 END)",
            )?;
            let pid = std::process::id() as i64;
            for r in runs {
                st.execute(params![
                    r.job,
                    r.status,
                    r.trigger,
                    r.partition,
                    r.scheduled_for,
                    now_ms(),
                    r.start_step,
                    r.parent_run,
                    r.error,
                    r.config,
                    pid
                ])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    pub fn create_run(&mut self, run: NewRun) -> Result<i64> {
        Ok(self.create_runs(std::slice::from_ref(&run))?[0])
    }

    pub fn start_run(&self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = 'running', started_at = ?2, owner_pid = ?3 WHERE id = ?1",
            params![id, now_ms(), std::process::id() as i64],
        )?;
        Ok(())
    }

    pub fn finish_run(
        &self,
        id: i64,
        status: &str,
        failed_step: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, failed_step = ?4, error = ?5 WHERE id = ?1",
            params![id, status, now_ms(), failed_step, error],
        )?;
        Ok(())
    }

    pub fn start_step(
        &self,
        run: i64,
        idx: i64,
        attempt: i64,
        name: &str,
        argv: &[String],
    ) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO steps (run_id, idx, attempt, name, argv, status, started_at) VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6)",
            params![run, idx, attempt, name, serde_json::to_string(argv).unwrap_or_default(), now_ms()],
        )?;
        Ok(())
    }

    pub fn finish_step(
        &self,
        run: i64,
        idx: i64,
        attempt: i64,
        status: &str,
        exit_code: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET status = ?4, finished_at = ?5, exit_code = ?6, error = ?7 WHERE run_id = ?1 AND idx = ?2 AND attempt = ?3",
            params![run, idx, attempt, status, now_ms(), exit_code, error],
        )?;
        Ok(())
    }

    pub fn log(
        &self,
        run: i64,
        step: Option<(i64, i64)>,
        stream: &str,
        level: &str,
        message: &str,
    ) -> Result<i64> {
        self.conn
            .prepare_cached("INSERT INTO logs (run_id, step_idx, attempt, ts, stream, level, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
            .execute(params![run, step.map(|s| s.0), step.map(|s| s.1), now_ms(), stream, level, message])?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn run(&self, id: i64) -> Result<RunRow> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1"),
                [id],
                run_row,
            )
            .optional()?
            .ok_or(Error::UnknownRun(id))
    }

    pub fn run_config(&self, id: i64) -> Result<String> {
        Ok(self
            .conn
            .query_row("SELECT config FROM runs WHERE id = ?1", [id], |r| r.get(0))?)
    }

    /// Newest first.
    pub fn runs(&self, f: &RunFilter) -> Result<Vec<RunRow>> {
        let mut sql = format!("SELECT {RUN_COLS} FROM runs WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(j) = &f.job {
            args.push(j.clone().into());
            sql.push_str(&format!(" AND job = ?{}", args.len()));
        }
        if let Some(s) = &f.status {
            args.push(s.clone().into());
            sql.push_str(&format!(" AND status = ?{}", args.len()));
        }
        if let Some(b) = f.before {
            args.push(b.into());
            sql.push_str(&format!(" AND id < ?{}", args.len()));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            f.limit.clamp(1, 10_000)
        ));
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), run_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn count_runs(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))?)
    }

    pub fn steps(&self, run: i64) -> Result<Vec<StepRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT idx, attempt, name, status, started_at, finished_at, exit_code, error FROM steps WHERE run_id = ?1 ORDER BY idx, attempt",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(StepRow {
                idx: r.get(0)?,
                attempt: r.get(1)?,
                name: r.get(2)?,
                status: r.get(3)?,
                started_at: r.get(4)?,
                finished_at: r.get(5)?,
                exit_code: r.get(6)?,
                error: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn logs_after(&self, run: i64, after: i64, limit: usize) -> Result<Vec<LogRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, step_idx, attempt, ts, stream, level, message FROM logs WHERE run_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = st.query_map(params![run, after, limit as i64], |r| {
            Ok(LogRow {
                id: r.get(0)?,
                step_idx: r.get(1)?,
                attempt: r.get(2)?,
                ts: r.get(3)?,
                stream: r.get(4)?,
                level: r.get(5)?,
                message: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The last `limit` log lines of a run, oldest first.
    pub fn logs_tail(&self, run: i64, limit: usize) -> Result<Vec<LogRow>> {
        let first: Option<i64> = self.conn.query_row(
            "SELECT min(id) FROM (SELECT id FROM logs WHERE run_id = ?1 ORDER BY id DESC LIMIT ?2)",
            params![run, limit as i64],
            |r| r.get(0),
        )?;
        match first {
            Some(f) => self.logs_after(run, f - 1, limit),
            None => Ok(Vec::new()),
        }
    }

    /// The newest run of each of `jobs` that has one: one index seek per job
    /// (a GROUP BY would scan the whole history).
    pub fn latest_per_job(&self, jobs: &[&str]) -> Result<Vec<RunRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE job = ?1 ORDER BY id DESC LIMIT 1"
        ))?;
        let mut out = Vec::new();
        for j in jobs {
            if let Some(r) = st.query_row([j], run_row).optional()? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The newest run of `job` with one of `statuses`.
    pub fn latest_with_status(&self, job: &str, statuses: &[&str]) -> Result<Option<RunRow>> {
        let list = statuses
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "")))
            .collect::<Vec<_>>()
            .join(",");
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {RUN_COLS} FROM runs WHERE job = ?1 AND status IN ({list}) ORDER BY id DESC LIMIT 1"))?
            .query_row([job], run_row)
            .optional()?)
    }

    /// The newest finished (success, failed or interrupted) run of `job` before `before`.
    pub fn previous_finished(&self, job: &str, before: i64) -> Result<Option<RunRow>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {RUN_COLS} FROM runs WHERE job = ?1 AND id < ?2 AND status IN ('success', 'failed', 'interrupted') ORDER BY id DESC LIMIT 1"
                ),
                params![job, before],
                run_row,
            )
            .optional()?)
    }

    /// (job, partition, status of the newest run) for partitions in [from, to].
    pub fn partition_grid(&self, from: &str, to: &str) -> Result<Vec<(String, String, String)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT job, partition, status FROM partition_status WHERE partition BETWEEN ?1 AND ?2",
        )?;
        let rows = st.query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The grid's cells with the run each shows: (job, partition, run id,
    /// status), so a cell links to its run.
    pub fn partition_runs(
        &self,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, String, i64, String)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT job, partition, run_id, status FROM partition_status WHERE partition BETWEEN ?1 AND ?2",
        )?;
        let rows = st.query_map(params![from, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The months (`YYYY-MM`) whose daily partitions have runs, newest
    /// first, each with its count of job-days: where the backfill grid
    /// opens and what it offers to page to.
    pub fn partition_months(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT substr(partition, 1, 7) AS m, count(*) FROM partition_status
             WHERE partition GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
             GROUP BY m ORDER BY m DESC",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn active_runs(&self) -> Result<Vec<RunRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE status IN ('queued', 'running') ORDER BY id"
        ))?;
        let rows = st.query_map([], run_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Marks queued and running runs whose process is gone as `interrupted`
    /// (and their running steps too). Returns them.
    pub fn mark_interrupted(&self, alive: impl Fn(i64) -> bool) -> Result<Vec<RunRow>> {
        let mut out = Vec::new();
        for r in self.active_runs()? {
            let owner_alive = r.owner_pid.is_some_and(&alive);
            if owner_alive {
                continue;
            }
            let step = self
                .conn
                .query_row(
                    "SELECT max(idx) FROM steps WHERE run_id = ?1",
                    [r.id],
                    |row| row.get::<_, Option<i64>>(0),
                )?
                .unwrap_or(r.start_step);
            self.conn.execute(
                "UPDATE steps SET status = 'interrupted', finished_at = ?2, error = 'the orchestrator process died' WHERE run_id = ?1 AND status = 'running'",
                params![r.id, now_ms()],
            )?;
            let msg = format!(
                "interrupted: the process running it (pid {}) died",
                r.owner_pid.unwrap_or_default()
            );
            self.finish_run(r.id, "interrupted", Some(step), Some(&msg))?;
            self.log(r.id, None, "tarmac", "error", &msg)?;
            out.push(self.run(r.id)?);
        }
        Ok(out)
    }

    /// Interrupted runs no retry has been created for yet.
    pub fn unrecovered_interrupted(&self) -> Result<Vec<RunRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE status = 'interrupted' AND recovered = 0 ORDER BY id"
        ))?;
        let rows = st.query_map([], run_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn set_recovered(&self, id: i64) -> Result<()> {
        self.conn
            .execute("UPDATE runs SET recovered = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn job_state(&self, job: &str) -> Result<JobState> {
        Ok(self
            .conn
            .query_row(
                "SELECT paused, last_fire, data_mark FROM job_state WHERE job = ?1",
                [job],
                |r| {
                    Ok(JobState {
                        paused: r.get::<_, i64>(0)? != 0,
                        last_fire: r.get(1)?,
                        data_mark: r.get(2)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }

    pub fn set_paused(&self, job: &str, paused: bool) -> Result<()> {
        self.conn.execute(
            "INSERT INTO job_state (job, paused) VALUES (?1, ?2) ON CONFLICT(job) DO UPDATE SET paused = ?2",
            params![job, paused as i64],
        )?;
        Ok(())
    }

    pub fn set_last_fire(&mut self, fires: &[(&str, i64)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO job_state (job, last_fire) VALUES (?1, ?2) ON CONFLICT(job) DO UPDATE SET last_fire = max(coalesce(last_fire, 0), ?2)",
            )?;
            for (job, t) in fires {
                st.execute(params![job, t])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn set_data_mark(&self, job: &str, mark: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO job_state (job, data_mark) VALUES (?1, ?2) ON CONFLICT(job) DO UPDATE SET data_mark = ?2",
            params![job, mark],
        )?;
        Ok(())
    }

    pub fn enqueue_alert(
        &self,
        run: i64,
        kind: &str,
        channel: &str,
        subject: &str,
        body: &str,
    ) -> Result<i64> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO alerts (run_id, kind, channel, status, next_attempt_at, created_at, subject, body) VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?5, ?6)",
            params![run, kind, channel, now, subject, body],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn due_alerts(&self, now: i64) -> Result<Vec<AlertRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, run_id, kind, channel, status, attempts, last_error, subject, body FROM alerts WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT 100",
        )?;
        let rows = st.query_map([now], alert_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn alerts_for_run(&self, run: i64) -> Result<Vec<AlertRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, run_id, kind, channel, status, attempts, last_error, subject, body FROM alerts WHERE run_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([run], alert_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn alert_result(
        &self,
        id: i64,
        result: std::result::Result<(), String>,
        next_attempt_at: Option<i64>,
    ) -> Result<()> {
        match result {
            Ok(()) => self.conn.execute(
                "UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL WHERE id = ?1",
                params![id, now_ms()],
            )?,
            Err(e) => self.conn.execute(
                "UPDATE alerts SET status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END, attempts = attempts + 1, last_error = ?2, next_attempt_at = coalesce(?3, next_attempt_at) WHERE id = ?1",
                params![id, e, next_attempt_at],
            )?,
        };
        Ok(())
    }
}

fn alert_row(r: &Row) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        kind: r.get(2)?,
        channel: r.get(3)?,
        status: r.get(4)?,
        attempts: r.get(5)?,
        last_error: r.get(6)?,
        subject: r.get(7)?,
        body: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_run(job: &str, status: &str, partition: Option<&str>) -> NewRun {
        NewRun {
            job: job.into(),
            trigger: "manual".into(),
            status: status.into(),
            partition: partition.map(String::from),
            scheduled_for: None,
            start_step: 0,
            parent_run: None,
            error: None,
            config: "{}".into(),
        }
    }

    #[test]
    fn migrations_apply_once_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/state.sqlite");
        {
            // an old database: only migration 1
            let mut h = History {
                conn: Connection::open(&path).unwrap_or_else(|_| {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    Connection::open(&path).unwrap()
                }),
                path: path.clone(),
            };
            h.migrate(&MIGRATIONS[..1]).unwrap();
            assert_eq!(h.schema_version().unwrap(), 1);
            h.create_run(new_run("a", "success", Some("2024-08-01")))
                .unwrap();
        }
        let h = History::open(&path).unwrap();
        assert_eq!(h.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(h.count_runs().unwrap(), 1, "data kept across the migration");
        assert_eq!(
            h.partition_grid("2024-08-01", "2024-08-01").unwrap(),
            [("a".into(), "2024-08-01".into(), "success".into())],
            "migration 3 fills the grid table from the runs already there"
        );
        h.enqueue_alert(1, "failure", "email", "s", "b").unwrap();
        drop(h);
        let h = History::open(&path).unwrap();
        let n: i64 = h
            .conn
            .query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
        // a database from the future is refused
        h.conn
            .execute("INSERT INTO schema_version VALUES (99, 'future', 0)", [])
            .unwrap();
        drop(h);
        let e = History::open(&path).err().unwrap().to_string();
        assert!(e.contains("newer than this tarmac knows"), "{e}");
    }

    #[test]
    fn runs_steps_logs_and_queries() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(&dir.path().join("state.sqlite")).unwrap();
        let a1 = h
            .create_run(new_run("a", "queued", Some("2024-08-01")))
            .unwrap();
        h.start_run(a1).unwrap();
        h.start_step(a1, 0, 1, "ingest batch", &["ingest".into()])
            .unwrap();
        h.log(a1, Some((0, 1)), "stderr", "info", "hello").unwrap();
        h.finish_step(a1, 0, 1, "failed", Some(1), Some("boom"))
            .unwrap();
        h.finish_run(a1, "failed", Some(0), Some("boom")).unwrap();
        let a2 = h
            .create_run(new_run("a", "queued", Some("2024-08-01")))
            .unwrap();
        h.finish_run(a2, "success", None, None).unwrap();
        let b1 = h
            .create_run(new_run("b", "queued", Some("2024-08-02")))
            .unwrap();
        h.finish_run(b1, "failed", Some(0), Some("x")).unwrap();

        let all = h
            .runs(&RunFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [b1, a2, a1]);
        let failed = h
            .runs(&RunFilter {
                status: Some("failed".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(failed.len(), 2);
        let page = h
            .runs(&RunFilter {
                job: Some("a".into()),
                before: Some(a2),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [a1]);
        assert_eq!(h.steps(a1).unwrap()[0].error.as_deref(), Some("boom"));
        assert_eq!(h.logs_after(a1, 0, 10).unwrap()[0].message, "hello");
        assert_eq!(h.logs_tail(a1, 10).unwrap().len(), 1);
        assert_eq!(h.previous_finished("a", a2).unwrap().unwrap().id, a1);
        let mut grid = h.partition_grid("2024-08-01", "2024-08-31").unwrap();
        grid.sort();
        assert_eq!(
            grid,
            [
                ("a".into(), "2024-08-01".into(), "success".into()),
                ("b".into(), "2024-08-02".into(), "failed".into()),
            ]
        );
        let mut cells = h.partition_runs("2024-08-02", "2024-08-02").unwrap();
        cells.sort();
        assert_eq!(cells.len(), 1);
        assert_eq!((cells[0].0.as_str(), cells[0].3.as_str()), ("b", "failed"));
        assert_eq!(
            h.run(cells[0].2).unwrap().partition.as_deref(),
            Some("2024-08-02")
        );
        assert_eq!(h.partition_months().unwrap(), [("2024-08".to_string(), 2)]);
        let latest = h.latest_per_job(&["a", "b", "c"]).unwrap();
        assert_eq!(latest.len(), 2);
        assert!(h.run(999).is_err());
    }

    #[test]
    fn dead_owners_mean_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(&dir.path().join("state.sqlite")).unwrap();
        let r = h.create_run(new_run("a", "queued", None)).unwrap();
        h.start_run(r).unwrap();
        h.start_step(r, 1, 1, "build", &[]).unwrap();
        // the owner (this process) is alive: nothing happens
        assert!(h.mark_interrupted(|_| true).unwrap().is_empty());
        let marked = h.mark_interrupted(|_| false).unwrap();
        assert_eq!(marked.len(), 1);
        assert_eq!(marked[0].status, "interrupted");
        assert_eq!(marked[0].failed_step, Some(1));
        assert_eq!(h.steps(r).unwrap()[0].status, "interrupted");
        assert_eq!(h.unrecovered_interrupted().unwrap().len(), 1);
        h.set_recovered(r).unwrap();
        assert!(h.unrecovered_interrupted().unwrap().is_empty());
    }

    #[test]
    fn job_state_and_alert_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(&dir.path().join("state.sqlite")).unwrap();
        assert!(!h.job_state("a").unwrap().paused);
        h.set_paused("a", true).unwrap();
        h.set_last_fire(&[("a", 100)]).unwrap();
        h.set_last_fire(&[("a", 50)]).unwrap();
        let s = h.job_state("a").unwrap();
        assert!(s.paused);
        assert_eq!(s.last_fire, Some(100), "never moves backwards");
        let r = h.create_run(new_run("a", "failed", None)).unwrap();
        let id = h
            .enqueue_alert(r, "failure", "email", "subj", "body")
            .unwrap();
        assert_eq!(h.due_alerts(now_ms()).unwrap().len(), 1);
        h.alert_result(id, Err("refused".into()), Some(now_ms() + 60_000))
            .unwrap();
        assert!(h.due_alerts(now_ms()).unwrap().is_empty());
        let a = &h.alerts_for_run(r).unwrap()[0];
        assert_eq!((a.status.as_str(), a.attempts), ("pending", 1));
        h.alert_result(id, Ok(()), None).unwrap();
        assert_eq!(h.alerts_for_run(r).unwrap()[0].status, "sent");
    }
}
