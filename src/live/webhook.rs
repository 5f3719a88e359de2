//! Webhook notifications: each alert event is POSTed as JSON, retried with doubling backoff;
//! what happened is kept on the rule (`webhook_status`) and counted in metrics.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::live::rules::AlertEvent;
use crate::telemetry::Metrics;

/// How a rule's webhook is doing.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WebhookStatus {
    pub delivered: u64,
    /// Events given up on after every attempt failed.
    pub failed: u64,
    /// Attempts that failed (retried or not).
    pub failed_attempts: u64,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
}

/// Delivers one event in the background.
pub fn deliver(
    url: String,
    event: Arc<AlertEvent>,
    status: Arc<Mutex<WebhookStatus>>,
    attempts: u32,
    backoff_ms: u64,
    metrics: Arc<Metrics>,
) {
    std::thread::spawn(move || {
        let body = serde_json::to_value(&*event).expect("an event serializes");
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .build();
        let mut wait = backoff_ms.max(1);
        for attempt in 1..=attempts.max(1) {
            let result = agent
                .post(&url)
                .set("content-type", "application/json")
                .send_json(body.clone());
            let now =
                crate::store::value::format_timestamp_us(chrono::Utc::now().timestamp_micros());
            let mut st = status.lock();
            st.last_attempt_at = Some(now);
            match result {
                Ok(_) => {
                    st.delivered += 1;
                    metrics.webhooks.with_label_values(&["delivered"]).inc();
                    return;
                }
                Err(e) => {
                    let msg = match e {
                        ureq::Error::Status(code, _) => format!("HTTP {code}"),
                        other => other.to_string(),
                    };
                    tracing::warn!(url = %url, attempt, error = %msg, "webhook delivery failed");
                    st.failed_attempts += 1;
                    st.last_error = Some(format!("attempt {attempt}: {msg}"));
                    if attempt == attempts.max(1) {
                        st.failed += 1;
                        metrics.webhooks.with_label_values(&["failed"]).inc();
                        return;
                    }
                    metrics.webhooks.with_label_values(&["retried"]).inc();
                }
            }
            drop(st);
            std::thread::sleep(Duration::from_millis(wait));
            wait = wait.saturating_mul(2).min(60_000);
        }
    });
}
