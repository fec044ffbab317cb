//! Alerts by email (SMTP) and webhook (JSON POST, Slack-compatible `text`).
//!
//! Alerts go through an outbox (the `alerts` table): a run's end enqueues
//! them, a sender delivers them and, when the SMTP server or the webhook is
//! down, tries again later with growing delays (`tarmac orchestrate` keeps
//! trying in the background). The run's result never depends on delivery.
//! Bodies are built from the run's recorded error, which was scrubbed of
//! secrets when recorded, and are scrubbed again before they are stored.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::config::{AlertOn, EmailSettings, Job, Settings, SmtpSecurity, WebhookSettings};
use crate::history::{now_ms, AlertRow, History, RunRow};
use crate::runner::Env;

/// Delivery gives up after this many attempts (about a day of retries).
pub const MAX_ATTEMPTS: i64 = 30;

/// Decides which alerts a finished run gets and puts them in the outbox.
pub fn enqueue_for_run(
    history: &History,
    settings: &Settings,
    env: &Env,
    job: &Job,
    run: &RunRow,
    ui_base: &str,
) -> crate::error::Result<usize> {
    let kind = match run.status.as_str() {
        "failed" | "interrupted" => AlertOn::Failure,
        "success" => {
            let prev = history.previous_finished(&run.job, run.id)?;
            if prev.is_some_and(|p| p.status != "success") {
                AlertOn::Recovery
            } else {
                AlertOn::Success
            }
        }
        _ => return Ok(0),
    };
    if !job.alert_on.contains(&kind) {
        return Ok(0);
    }
    let step = run
        .failed_step
        .and_then(|i| job.steps.get(i as usize).map(|s| (i, s.text.as_str())));
    let link = format!("{ui_base}/runs/{}", run.id);
    let (headline, subject) = match kind {
        AlertOn::Failure => (
            format!("Tarmac job `{}` {} (run {})", run.job, run.status, run.id),
            format!("[tarmac] FAILED: job {} (run {})", run.job, run.id),
        ),
        AlertOn::Recovery => (
            format!(
                "Tarmac job `{}` recovered: run {} succeeded",
                run.job, run.id
            ),
            format!("[tarmac] RECOVERED: job {} (run {})", run.job, run.id),
        ),
        AlertOn::Success => (
            format!("Tarmac job `{}` succeeded (run {})", run.job, run.id),
            format!("[tarmac] OK: job {} (run {})", run.job, run.id),
        ),
    };
    let mut body = format!(
        "{headline}\n\nJob: {}\nRun: {}\nStatus: {}\n",
        run.job, run.id, run.status
    );
    if let Some(p) = &run.partition {
        body.push_str(&format!("Partition: {p}\n"));
    }
    if let Some((i, text)) = step {
        body.push_str(&format!("Step: {} `{text}`\n", i + 1));
    }
    if let Some(e) = &run.error {
        body.push_str(&format!("Error: {e}\n"));
    }
    body.push_str(&format!("Run page: {link}\n"));
    let body = env.scrub(&body);
    let subject = env.scrub(&subject);
    let mut n = 0;
    if settings.email.is_some() {
        history.enqueue_alert(run.id, kind.as_str(), "email", &subject, &body)?;
        n += 1;
    }
    if settings.webhook.is_some() {
        let payload = serde_json::json!({
            "text": body,
            "job": run.job,
            "run_id": run.id,
            "status": run.status,
            "kind": kind.as_str(),
            "step": step.map(|s| s.1),
            "error": run.error.as_deref().map(|e| env.scrub(e)),
            "url": link,
        });
        history.enqueue_alert(
            run.id,
            kind.as_str(),
            "webhook",
            &subject,
            &payload.to_string(),
        )?;
        n += 1;
    }
    Ok(n)
}

/// Sends alerts and records the results.
pub struct Sender {
    settings: Settings,
    http: reqwest::Client,
}

impl Sender {
    pub fn new(settings: Settings) -> Sender {
        Sender {
            settings,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Delivers every due alert once. Returns (sent, failed this time).
    pub async fn deliver_due(
        &self,
        history: &crate::runner::SharedHistory,
    ) -> (usize, Vec<String>) {
        let due = match crate::runner::lock(history).due_alerts(now_ms()) {
            Ok(d) => d,
            Err(e) => return (0, vec![e.to_string()]),
        };
        let mut sent = 0;
        let mut failed = Vec::new();
        for a in due {
            let result = self.send(&a).await;
            let next = match &result {
                Ok(()) => None,
                Err(_) if a.attempts + 1 >= MAX_ATTEMPTS => None,
                Err(_) => Some(
                    now_ms()
                        + retry_delay(self.settings.alert_retry_delay, a.attempts + 1).as_millis()
                            as i64,
                ),
            };
            match &result {
                Ok(()) => sent += 1,
                Err(e) => {
                    tracing::warn!("alert {} ({}) not delivered: {e}", a.id, a.channel);
                    failed.push(format!("{}: {e}", a.channel));
                }
            }
            if let Err(e) = crate::runner::lock(history).alert_result(a.id, result, next) {
                tracing::warn!("alert {}: {e}", a.id);
            }
        }
        (sent, failed)
    }

    async fn send(&self, a: &AlertRow) -> Result<(), String> {
        match a.channel.as_str() {
            "email" => match &self.settings.email {
                Some(e) => {
                    let (e, subject, body) = (e.clone(), a.subject.clone(), a.body.clone());
                    tokio::task::spawn_blocking(move || send_email(&e, &subject, &body))
                        .await
                        .map_err(|e| e.to_string())?
                }
                None => Err("email is no longer configured".into()),
            },
            "webhook" => match &self.settings.webhook {
                Some(w) => self.post(w, &a.body).await,
                None => Err("the webhook is no longer configured".into()),
            },
            other => Err(format!("unknown channel {other}")),
        }
    }

    async fn post(&self, w: &WebhookSettings, body: &str) -> Result<(), String> {
        let url = std::env::var(&w.url_env)
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| w.url.clone())
            .ok_or_else(|| {
                format!(
                    "no webhook URL: set {} (or [orchestrator.webhook] url)",
                    w.url_env
                )
            })?;
        // errors never quote the URL: a Slack webhook URL is a credential
        let resp = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("webhook request failed: {}", e.without_url()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered HTTP {}", resp.status().as_u16()))
        }
    }
}

/// `base`, 2·`base`, 4·`base` … capped at one hour.
pub fn retry_delay(base: Duration, attempts: i64) -> Duration {
    let factor = 1u32 << attempts.clamp(1, 20).saturating_sub(1) as u32;
    (base * factor).min(Duration::from_secs(3600))
}

/// TLS for the relay: the public roots, plus `ca_file` when given; any
/// certificate with `insecure` (tests).
fn tls_parameters(e: &EmailSettings) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(e.host.clone());
    if let Some(ca) = &e.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|x| format!("[orchestrator.email] ca_file {}: {x}", ca.display()))?;
        let cert = lettre::transport::smtp::client::Certificate::from_pem(&pem)
            .map_err(|x| format!("[orchestrator.email] ca_file {}: {x}", ca.display()))?;
        b = b.add_root_certificate(cert);
    }
    if e.insecure {
        b = b.dangerous_accept_invalid_certs(true);
    }
    b.build().map_err(|x| format!("TLS setup: {x}"))
}

/// Sends one email now (the outbox calls it; tests call it against a sink).
pub fn send_email(e: &EmailSettings, subject: &str, body: &str) -> Result<(), String> {
    let mut builder = Message::builder()
        .from(
            e.from
                .parse()
                .map_err(|x| format!("bad `from` address {}: {x}", e.from))?,
        )
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &e.to {
        builder = builder.to(to
            .parse()
            .map_err(|x| format!("bad `to` address {to}: {x}"))?);
    }
    let msg = builder.body(body.to_string()).map_err(|x| x.to_string())?;
    let tls = || tls_parameters(e);
    let mut t = SmtpTransport::builder_dangerous(&e.host)
        .port(e.port)
        .timeout(Some(Duration::from_secs(10)))
        .tls(match e.security {
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::Starttls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
        });
    let user = std::env::var(&e.username_env)
        .ok()
        .filter(|s| !s.is_empty());
    let pass = std::env::var(&e.password_env)
        .ok()
        .filter(|s| !s.is_empty());
    if let (Some(u), Some(p)) = (user, pass) {
        t = t.credentials(Credentials::new(u, p));
    }
    // lettre's errors name the server and the SMTP reply, never credentials
    t.build()
        .send(&msg)
        .map(|_| ())
        .map_err(|x| format!("SMTP {}:{}: {x}", e.host, e.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_cap() {
        let b = Duration::from_secs(10);
        assert_eq!(retry_delay(b, 1), Duration::from_secs(10));
        assert_eq!(retry_delay(b, 2), Duration::from_secs(20));
        assert_eq!(retry_delay(b, 30), Duration::from_secs(3600));
    }
}
