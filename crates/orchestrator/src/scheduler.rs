//! The orchestrator proper: launches runs (now, on schedule, on new data,
//! for backfills, to recover interrupted ones), keeps one run per job at a
//! time, and hands finished runs to the alert outbox.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::Notify;

use crate::alerts;
use crate::config::{CatchUp, Job, OrchestratorConfig, Overlap, Trigger};
use crate::cron::interval_next_after;
use crate::error::{Error, Result};
use crate::history::{now_ms, History, NewRun};
use crate::runner::{lock, process_alive, Env, Outcome, Runner, SharedHistory};

/// Catch-up never creates more than this many runs for one job at once.
pub const MAX_CATCH_UP: usize = 1000;

pub struct Orchestrator {
    pub config: OrchestratorConfig,
    pub env: Arc<Env>,
    pub history: SharedHistory,
    runner: Runner,
    sender: alerts::Sender,
    /// One run of a job at a time (per process; across processes the
    /// warehouse lock serialises steps anyway).
    job_locks: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// Runs of this process that are queued or running, by job.
    active: Mutex<HashMap<String, Vec<i64>>>,
    /// Next schedule instant per job (ms), for the UI.
    next_fire: Mutex<HashMap<String, i64>>,
    ui_base: RwLock<String>,
    wake: Notify,
    alerts_due: Notify,
    /// Record schedule ticks without running anything (`--dry-run`, benchmarks).
    pub dry_run: bool,
    /// Jobs paused from the UI (mirrors `job_state.paused`: a tick of 1,000
    /// jobs must not ask the database 1,000 times).
    paused: Mutex<std::collections::HashSet<String>>,
    /// Each job's configuration as stored with its runs.
    snapshots: HashMap<String, String>,
}

impl Orchestrator {
    pub fn open(config: OrchestratorConfig, env: Env, dry_run: bool) -> Result<Arc<Orchestrator>> {
        std::fs::create_dir_all(&config.settings.state_dir).map_err(|e| {
            Error::io(
                format!("cannot create {}", config.settings.state_dir.display()),
                e,
            )
        })?;
        let history = History::open(&config.settings.state_dir.join("state.sqlite"))?;
        let paused = config
            .jobs
            .iter()
            .filter(|j| {
                history
                    .job_state(&j.name)
                    .map(|s| s.paused)
                    .unwrap_or(false)
            })
            .map(|j| j.name.clone())
            .collect();
        let snapshots = config
            .jobs
            .iter()
            .map(|j| (j.name.clone(), j.snapshot().to_string()))
            .collect();
        let history = Arc::new(Mutex::new(history));
        let env = Arc::new(env);
        let ui_base = config
            .settings
            .ui_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        Ok(Arc::new(Orchestrator {
            job_locks: config
                .jobs
                .iter()
                .map(|j| (j.name.clone(), Arc::new(tokio::sync::Mutex::new(()))))
                .collect(),
            runner: Runner {
                env: env.clone(),
                history: history.clone(),
            },
            sender: alerts::Sender::new(config.settings.clone()),
            config,
            env,
            history,
            active: Mutex::new(HashMap::new()),
            next_fire: Mutex::new(HashMap::new()),
            ui_base: RwLock::new(ui_base),
            wake: Notify::new(),
            alerts_due: Notify::new(),
            dry_run,
            paused: Mutex::new(paused),
            snapshots,
        }))
    }

    /// The UI's address, for links in alerts (unless `ui_url` is configured).
    pub fn set_ui_base(&self, url: &str) {
        if self.config.settings.ui_url.is_none() {
            *self.ui_base.write().unwrap_or_else(|p| p.into_inner()) =
                url.trim_end_matches('/').to_string();
        }
    }

    pub fn ui_base(&self) -> String {
        self.ui_base
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn job(&self, name: &str) -> Result<&Job> {
        self.config.job(name)
    }

    pub fn next_fire(&self, job: &str) -> Option<i64> {
        self.next_fire
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .copied()
    }

    pub fn is_active(&self, job: &str) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .is_some_and(|v| !v.is_empty())
    }

    /// Runs of this process for `job` that are queued or running.
    fn active_count(&self, job: &str) -> usize {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .map_or(0, Vec::len)
    }

    fn new_run(
        job: &Job,
        trigger: &str,
        partition: Option<NaiveDate>,
        start_step: usize,
        parent: Option<i64>,
        scheduled_for: Option<i64>,
    ) -> NewRun {
        NewRun {
            job: job.name.clone(),
            trigger: trigger.into(),
            status: "queued".into(),
            partition: partition.map(|p| p.format("%Y-%m-%d").to_string()),
            scheduled_for,
            start_step: start_step as i64,
            parent_run: parent,
            error: None,
            config: job.snapshot().to_string(),
        }
    }

    /// Runs a job in the foreground (`tarmac run-job`, `tarmac backfill`) and
    /// delivers its alerts once; undelivered ones stay in the outbox.
    pub async fn run_foreground(
        &self,
        job: &str,
        trigger: &str,
        partition: Option<NaiveDate>,
        start_step: usize,
        parent: Option<i64>,
    ) -> Result<(i64, Outcome, Vec<String>)> {
        let job = self.job(job)?.clone();
        if start_step >= job.steps.len() {
            return Err(Error::Invalid(format!(
                "job `{}` has {} step(s); cannot start at step {}",
                job.name,
                job.steps.len(),
                start_step + 1
            )));
        }
        let id = lock(&self.history).create_run(Self::new_run(
            &job, trigger, partition, start_step, parent, None,
        ))?;
        let guard = self.job_locks[&job.name].clone();
        let _g = guard.lock().await;
        let outcome = self.runner.run(id, &job, partition, start_step).await;
        self.enqueue_alerts(&job, id);
        let (_, failed) = self.sender.deliver_due(&self.history).await;
        Ok((id, outcome, failed))
    }

    fn enqueue_alerts(&self, job: &Job, id: i64) {
        let h = lock(&self.history);
        let res = h.run(id).and_then(|run| {
            alerts::enqueue_for_run(
                &h,
                &self.config.settings,
                &self.env,
                job,
                &run,
                &self.ui_base(),
            )
        });
        match res {
            Ok(n) if n > 0 => self.alerts_due.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!("run {id}: cannot queue alerts: {e}"),
        }
    }

    /// Creates a queued run and starts it in the background once the job is free.
    pub fn launch(
        self: &Arc<Self>,
        job: &str,
        trigger: &str,
        partition: Option<NaiveDate>,
        start_step: usize,
        parent: Option<i64>,
    ) -> Result<i64> {
        let job = self.job(job)?.clone();
        if start_step >= job.steps.len() {
            return Err(Error::Invalid(format!(
                "job `{}` has no step {}",
                job.name,
                start_step + 1
            )));
        }
        let id = lock(&self.history).create_run(Self::new_run(
            &job, trigger, partition, start_step, parent, None,
        ))?;
        self.spawn_run(job, id, partition, start_step);
        Ok(id)
    }

    fn spawn_run(
        self: &Arc<Self>,
        job: Job,
        id: i64,
        partition: Option<NaiveDate>,
        start_step: usize,
    ) {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(job.name.clone())
            .or_default()
            .push(id);
        let me = self.clone();
        tokio::spawn(async move {
            let guard = me.job_locks[&job.name].clone();
            let g = guard.lock().await;
            me.runner.run(id, &job, partition, start_step).await;
            drop(g);
            if let Some(v) = me
                .active
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&job.name)
            {
                v.retain(|r| *r != id);
            }
            me.enqueue_alerts(&job, id);
        });
    }

    /// Runs the job again from the step the run failed at.
    pub fn rerun(self: &Arc<Self>, run_id: i64) -> Result<i64> {
        let run = lock(&self.history).run(run_id)?;
        if !matches!(run.status.as_str(), "failed" | "interrupted") {
            return Err(Error::Invalid(format!(
                "run {run_id} is {}; only failed or interrupted runs are re-run",
                run.status
            )));
        }
        let job = self.job(&run.job)?;
        let step = (run.failed_step.unwrap_or(run.start_step).max(0) as usize)
            .min(job.steps.len().saturating_sub(1));
        let partition = run
            .partition
            .as_deref()
            .and_then(|p| NaiveDate::parse_from_str(p, "%Y-%m-%d").ok());
        self.launch(&run.job, "rerun", partition, step, Some(run_id))
    }

    pub fn set_paused(&self, job: &str, paused: bool) -> Result<()> {
        self.job(job)?;
        lock(&self.history).set_paused(job, paused)?;
        let mut set = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        if paused {
            set.insert(job.to_string());
        } else {
            set.remove(job);
        }
        drop(set);
        self.wake.notify_one();
        Ok(())
    }

    pub fn paused(&self, job: &Job) -> bool {
        job.paused
            || self
                .paused
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&job.name)
    }

    /// Queues one run per day in [from, to]; they run one after the other.
    pub fn backfill(
        self: &Arc<Self>,
        job: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<i64>> {
        let days = backfill_days(from, to)?;
        let job = self.job(job)?.clone();
        let runs: Vec<NewRun> = days
            .iter()
            .map(|d| Self::new_run(&job, "backfill", Some(*d), 0, None, None))
            .collect();
        let ids = lock(&self.history).create_runs(&runs)?;
        for (id, day) in ids.iter().zip(days) {
            self.spawn_run(job.clone(), *id, Some(day), 0);
        }
        Ok(ids)
    }

    pub fn history_path(&self) -> std::path::PathBuf {
        lock(&self.history).path().to_path_buf()
    }

    /// Marks runs whose process died as `interrupted` without retrying them
    /// (`run-job`, `backfill`: retrying is the long-running orchestrator's job).
    pub fn recover_marks_only(&self) -> Result<()> {
        lock(&self.history).mark_interrupted(process_alive)?;
        Ok(())
    }

    /// At start-up: runs whose process died are marked `interrupted`; those
    /// whose job retries get a new run from the step that was cut short.
    pub fn recover(self: &Arc<Self>) -> Result<Vec<i64>> {
        let marked = lock(&self.history).mark_interrupted(process_alive)?;
        for r in &marked {
            tracing::warn!("run {} of job `{}` was interrupted", r.id, r.job);
        }
        let mut started = Vec::new();
        let pending = lock(&self.history).unrecovered_interrupted()?;
        for r in pending {
            lock(&self.history).set_recovered(r.id)?;
            let Ok(job) = self.job(&r.job).cloned() else {
                continue;
            };
            if job.retry.retries == 0 {
                self.enqueue_alerts(&job, r.id);
                continue;
            }
            let step =
                (r.failed_step.unwrap_or(r.start_step).max(0) as usize).min(job.steps.len() - 1);
            let partition = r
                .partition
                .as_deref()
                .and_then(|p| NaiveDate::parse_from_str(p, "%Y-%m-%d").ok());
            let id = self.launch(&job.name, "retry", partition, step, Some(r.id))?;
            lock(&self.history).log(
                id,
                None,
                "tarmac",
                "warn",
                &format!("retrying interrupted run {} from step {}", r.id, step + 1),
            )?;
            started.push(id);
        }
        Ok(started)
    }

    /// Delivers alerts whenever some are due, and re-tries failed deliveries.
    pub async fn alert_loop(self: Arc<Self>) {
        loop {
            self.sender.deliver_due(&self.history).await;
            tokio::select! {
                _ = self.alerts_due.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// The schedule loop: sleeps until the earliest next fire, then queues
    /// every job that is due in one history transaction.
    pub async fn schedule_loop(self: Arc<Self>) {
        let now = Utc::now();
        let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
        let mut catch_up: Vec<(usize, Vec<DateTime<Utc>>)> = Vec::new();
        for (i, job) in self.config.jobs.iter().enumerate() {
            let last = lock(&self.history)
                .job_state(&job.name)
                .ok()
                .and_then(|s| s.last_fire);
            if let (Some(last), Some(_)) = (last, next_after(&job.trigger, now)) {
                let last = DateTime::<Utc>::from_timestamp_millis(last).unwrap_or(now);
                let missed = fires_between(&job.trigger, last, now, MAX_CATCH_UP + 1);
                let missed: Vec<_> = match job.catch_up {
                    CatchUp::Skip => Vec::new(),
                    CatchUp::Once => missed.last().cloned().into_iter().collect(),
                    CatchUp::All => missed.into_iter().take(MAX_CATCH_UP).collect(),
                };
                if !missed.is_empty() {
                    catch_up.push((i, missed));
                }
            }
            if let Some(n) = next_after(&job.trigger, now) {
                heap.push(Reverse((n.timestamp_millis(), i)));
                self.next_fire
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(job.name.clone(), n.timestamp_millis());
            }
        }
        // jobs seen for the first time start their catch-up clock now
        let firsts: Vec<(&str, i64)> = self
            .config
            .jobs
            .iter()
            .filter(|j| matches!(j.trigger, Trigger::Cron { .. } | Trigger::Every(_)))
            .map(|j| (j.name.as_str(), now.timestamp_millis()))
            .collect();
        for (i, fires) in catch_up {
            let job = &self.config.jobs[i];
            tracing::info!(
                "job `{}`: catching up {} missed run(s)",
                job.name,
                fires.len()
            );
            self.fire(fires.iter().map(|f| (i, *f)).collect(), "catch_up");
        }
        let _ = lock(&self.history).set_last_fire(&firsts);
        loop {
            let Some(Reverse((due, _))) = heap.peek().cloned() else {
                self.wake.notified().await;
                continue;
            };
            let wait = (due - now_ms()).max(0) as u64;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = self.wake.notified() => continue,
            }
            let now = Utc::now();
            let mut fires = Vec::new();
            while let Some(Reverse((t, i))) = heap.peek().cloned() {
                if t > now.timestamp_millis() {
                    break;
                }
                heap.pop();
                fires.push((i, DateTime::<Utc>::from_timestamp_millis(t).unwrap_or(now)));
            }
            // queue first, then work out the next instants
            self.fire(fires.clone(), "schedule");
            let mut next = self.next_fire.lock().unwrap_or_else(|p| p.into_inner());
            for (i, at) in fires {
                let job = &self.config.jobs[i];
                if let Some(n) = next_after(
                    &job.trigger,
                    at.max(now - chrono::Duration::milliseconds(1)),
                ) {
                    heap.push(Reverse((n.timestamp_millis(), i)));
                    next.insert(job.name.clone(), n.timestamp_millis());
                }
            }
        }
    }

    /// Queues the given (job, scheduled instant) runs: one transaction for
    /// all of them, then one task each. A paused job's tick is dropped. A
    /// tick while the job's previous run still goes is queued behind it
    /// (`overlap = "queue"`, at most one queued: later ticks are recorded as
    /// `skipped`, collapsed into it) or recorded as `skipped` (`"skip"`).
    fn fire(self: &Arc<Self>, fires: Vec<(usize, DateTime<Utc>)>, trigger: &str) {
        if fires.is_empty() {
            return;
        }
        let mut rows = Vec::new();
        let mut starts = Vec::new();
        let mut marks = Vec::new();
        for (i, at) in &fires {
            let job = &self.config.jobs[*i];
            marks.push((job.name.as_str(), at.timestamp_millis()));
            if self.paused(job) {
                continue;
            }
            let partition = match &job.trigger {
                Trigger::Cron { tz, .. } => at.with_timezone(tz).date_naive(),
                _ => at.date_naive(),
            };
            let mut r = NewRun {
                job: job.name.clone(),
                trigger: trigger.into(),
                status: "queued".into(),
                partition: Some(partition.format("%Y-%m-%d").to_string()),
                scheduled_for: Some(at.timestamp_millis()),
                start_step: 0,
                parent_run: None,
                error: None,
                config: self.snapshots.get(&job.name).cloned().unwrap_or_default(),
            };
            if self.dry_run {
                r.status = "skipped".into();
                r.error = Some("dry run".into());
            } else if trigger == "schedule" && self.active_count(&job.name) > 0 {
                match job.overlap {
                    Overlap::Skip => {
                        r.status = "skipped".into();
                        r.error = Some("the previous run is still going".into());
                    }
                    // one queued run behind the running one: later ticks
                    // collapse into it
                    Overlap::Queue if self.active_count(&job.name) > 1 => {
                        r.status = "skipped".into();
                        r.error = Some("a run of this job is already queued".into());
                    }
                    Overlap::Queue => starts.push((rows.len(), *i, partition)),
                }
            } else {
                starts.push((rows.len(), *i, partition));
            }
            rows.push(r);
        }
        let ids = {
            let mut h = lock(&self.history);
            let ids = h.create_runs(&rows);
            if let Err(e) = h.set_last_fire(&marks) {
                tracing::warn!("cannot record schedule ticks: {e}");
            }
            ids
        };
        match ids {
            Ok(ids) => {
                for (row, i, partition) in starts {
                    self.spawn_run(self.config.jobs[i].clone(), ids[row], Some(partition), 0);
                }
            }
            Err(e) => tracing::error!("cannot queue scheduled runs: {e}"),
        }
    }

    /// Watches the landing zone for jobs triggered by new data.
    pub async fn data_loop(self: Arc<Self>, job_idx: usize, poll: Duration) {
        let name = self.config.jobs[job_idx].name.clone();
        loop {
            let landing = self.env.landing_mark.clone();
            let mark = match tokio::task::spawn_blocking(move || landing()).await {
                Ok(Ok(mark)) => mark,
                Ok(Err(e)) => {
                    tracing::warn!("job `{name}`: cannot look at the landing zone: {e}");
                    tokio::time::sleep(poll).await;
                    continue;
                }
                Err(_) => String::new(),
            };
            let stored = lock(&self.history)
                .job_state(&name)
                .ok()
                .and_then(|s| s.data_mark);
            if stored.as_deref() != Some(mark.as_str()) {
                if let Err(e) = lock(&self.history).set_data_mark(&name, &mark) {
                    tracing::warn!("{e}");
                }
                let job = &self.config.jobs[job_idx];
                // the first look only records what is there
                if stored.is_some() && !self.paused(job) && !self.dry_run {
                    if self.is_active(&name) {
                        tracing::info!("job `{name}`: new data while a run is going; it will be seen next time");
                        let _ = lock(&self.history)
                            .set_data_mark(&name, stored.as_deref().unwrap_or(""));
                    } else if let Err(e) = self.launch(&name, "new_data", None, 0, None) {
                        tracing::warn!("job `{name}`: {e}");
                    }
                }
            }
            tokio::time::sleep(poll).await;
        }
    }
}

pub fn next_after(t: &Trigger, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match t {
        Trigger::Cron { expr, tz, .. } => expr.next_after(after, *tz),
        Trigger::Every(d) => Some(interval_next_after(after, *d)),
        _ => None,
    }
}

pub fn fires_between(
    t: &Trigger,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut cur = after;
    while out.len() < limit {
        match next_after(t, cur) {
            Some(n) if n <= until => {
                out.push(n);
                cur = n;
            }
            _ => break,
        }
    }
    out
}

pub fn backfill_days(from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>> {
    if to < from {
        return Err(Error::Invalid(format!("--to {to} is before --from {from}")));
    }
    let n = (to - from).num_days() + 1;
    if n > 3660 {
        return Err(Error::Invalid(format!(
            "{n} days is more than ten years; split the backfill"
        )));
    }
    Ok(from.iter_days().take(n as usize).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_up_fires_and_backfill_days() {
        let t = Trigger::Every(Duration::from_secs(3600));
        let a = DateTime::parse_from_rfc3339("2024-08-12T00:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let b = DateTime::parse_from_rfc3339("2024-08-12T05:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let f = fires_between(&t, a, b, 100);
        assert_eq!(f.len(), 5);
        assert_eq!(fires_between(&t, a, b, 2).len(), 2);
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            backfill_days(d("2024-08-30"), d("2024-09-02"))
                .unwrap()
                .len(),
            4
        );
        assert!(backfill_days(d("2024-09-02"), d("2024-08-30")).is_err());
    }
}
