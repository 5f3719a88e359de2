//! Webhook notifications: each alert event is POSTed as JSON, retried with doubling backoff;
//! what happened is kept on the rule (`webhook_status`) and counted in metrics.
//!
//! A rule's events are delivered one at a time, in the order they happened, by one of the
//! shared delivery workers ([`crate::live::delivery`]) at a time: a receiver sees `firing`
//! before the `resolved` that follows it, even while retrying.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::live::delivery::{Drain, Pool};
use crate::live::outbound::Policy;
use crate::live::rules::AlertEvent;
use crate::live::signing::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::telemetry::Metrics;

/// Events waiting for delivery, per rule; beyond this the oldest waiting one is given up on.
pub const MAX_QUEUED: usize = 1000;

/// How a rule's webhook is doing.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WebhookStatus {
    pub delivered: u64,
    /// Events given up on: every attempt failed, or dropped from a full queue.
    pub failed: u64,
    /// Attempts that failed (retried or not).
    pub failed_attempts: u64,
    /// Events waiting for their turn (not counting the one being delivered).
    pub queued: usize,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
}

/// How deliveries are tried.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub attempts: u32,
    pub backoff_ms: u64,
    /// One attempt is given up after this long.
    pub timeout_ms: u64,
}

#[derive(Default)]
struct State {
    status: WebhookStatus,
    queue: VecDeque<Arc<AlertEvent>>,
    worker: bool,
}

/// One rule's webhook: its URL, how it retries, its delivery queue and what happened so far.
pub struct Webhook {
    url: String,
    /// Signs every body ([`crate::live::signing`]).
    secret: String,
    retry: Retry,
    metrics: Arc<Metrics>,
    pool: Arc<Pool>,
    /// Where it may connect (checked on every connection, redirects included).
    outbound: Arc<Policy>,
    state: Mutex<State>,
}

impl Webhook {
    pub fn new(
        url: String,
        secret: String,
        retry: Retry,
        metrics: Arc<Metrics>,
        pool: Arc<Pool>,
        outbound: Arc<Policy>,
    ) -> Arc<Webhook> {
        Arc::new(Webhook {
            url,
            secret,
            retry,
            metrics,
            pool,
            outbound,
            state: Mutex::new(State::default()),
        })
    }

    pub fn status(&self) -> WebhookStatus {
        let st = self.state.lock();
        WebhookStatus {
            queued: st.queue.len(),
            ..st.status.clone()
        }
    }

    /// Queues `event` behind the rule's earlier ones; the rule joins the workers' queue if it
    /// is not being delivered already.
    pub fn send(self: &Arc<Self>, event: Arc<AlertEvent>) {
        let mut st = self.state.lock();
        if st.queue.len() >= MAX_QUEUED
            && let Some(old) = st.queue.pop_front()
        {
            st.status.failed += 1;
            st.status.last_error = Some(format!(
                "event {} dropped: more than {MAX_QUEUED} events waiting",
                old.seq
            ));
            crate::telemetry::WebhookDelivery { outcome: "failed" }.emit(&self.metrics);
        }
        st.queue.push_back(event);
        if st.worker {
            return;
        }
        st.worker = true;
        drop(st);
        self.pool.submit(self.clone());
    }

    /// Delivers queued events in order until the queue is empty.
    fn work(&self) {
        let policy = self.outbound.clone();
        let agent = ureq::AgentBuilder::new()
            .tls_config(crate::tls::client_config())
            .timeout(Duration::from_millis(self.retry.timeout_ms.max(1)))
            .resolver(move |netloc: &str| policy.resolve(netloc))
            .build();
        loop {
            let event = {
                let mut st = self.state.lock();
                match st.queue.pop_front() {
                    Some(e) => e,
                    None => {
                        st.worker = false;
                        return;
                    }
                }
            };
            self.deliver(&agent, &event);
        }
    }

    fn deliver(&self, agent: &ureq::Agent, event: &AlertEvent) {
        let body = serde_json::to_vec(event).expect("an event serializes");
        let attempts = self.retry.attempts.max(1);
        let mut wait = self.retry.backoff_ms.max(1);
        for attempt in 1..=attempts {
            // Each attempt is signed at its own time, so a receiver's replay window holds.
            let ts = chrono::Utc::now().timestamp();
            let result = agent
                .post(&self.url)
                .set("content-type", "application/json")
                .set(TIMESTAMP_HEADER, &ts.to_string())
                .set(SIGNATURE_HEADER, &sign(&self.secret, ts, &body))
                .set(
                    "X-Streamq-Event",
                    &format!("{}-{}", event.rule_id, event.seq),
                )
                .send_bytes(&body);
            let now =
                crate::store::value::format_timestamp_us(chrono::Utc::now().timestamp_micros());
            let mut st = self.state.lock();
            let status = &mut st.status;
            status.last_attempt_at = Some(now);
            // A reply that is not 2xx is not a delivery (a 307/308 to a POST is not followed).
            let result = match result {
                Ok(r) if !(200..300).contains(&r.status()) => {
                    Err(ureq::Error::Status(r.status(), r))
                }
                other => other,
            };
            match result {
                Ok(_) => {
                    status.delivered += 1;
                    crate::telemetry::WebhookDelivery {
                        outcome: "delivered",
                    }
                    .emit(&self.metrics);
                    return;
                }
                Err(e) => {
                    // A target the outbound policy refuses is not retried: it was never reached
                    // (the resolver's PermissionDenied, as ureq's source of the error).
                    let refused = matches!(&e, ureq::Error::Transport(t)
                        if std::error::Error::source(t)
                            .and_then(|s| s.downcast_ref::<std::io::Error>())
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied));
                    let msg = match e {
                        ureq::Error::Status(code, _) => format!("HTTP {code}"),
                        other => other.to_string(),
                    };
                    tracing::warn!(url = %self.url, attempt, error = %msg, "webhook delivery failed");
                    status.failed_attempts += 1;
                    status.last_error = Some(format!("attempt {attempt}: {msg}"));
                    if attempt == attempts || refused {
                        status.failed += 1;
                        crate::telemetry::WebhookDelivery { outcome: "failed" }.emit(&self.metrics);
                        return;
                    }
                    crate::telemetry::WebhookDelivery { outcome: "retried" }.emit(&self.metrics);
                }
            }
            drop(st);
            std::thread::sleep(Duration::from_millis(wait));
            wait = wait.saturating_mul(2).min(60_000);
        }
    }
}

impl Drain for Webhook {
    fn drain(&self) {
        self.work();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::insight::Span;

    fn event() -> Arc<AlertEvent> {
        Arc::new(AlertEvent {
            seq: 1,
            rule_id: "r1".into(),
            rule_name: None,
            table: "shop.orders".into(),
            state: "firing".into(),
            group: None,
            value: Some(1.0),
            window: Span::new(0, 60_000),
            at: String::new(),
            at_ms: 60_000,
            detected_at: String::new(),
            message: "m".into(),
        })
    }

    #[test]
    fn a_name_that_resolves_to_loopback_is_refused_once_and_never_retried() {
        let retry = Retry {
            attempts: 5,
            backoff_ms: 10_000,
            timeout_ms: 2_000,
        };
        let hook = Webhook::new(
            "http://localhost:9/hook".into(),
            "secret".into(),
            retry,
            Arc::new(Metrics::new()),
            Pool::new(1),
            Arc::new(Policy::default()),
        );
        hook.send(event());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while hook.status().failed == 0 {
            assert!(std::time::Instant::now() < deadline, "{:?}", hook.status());
            std::thread::sleep(Duration::from_millis(20));
        }
        let st = hook.status();
        assert_eq!(st.failed_attempts, 1, "not retried: {st:?}");
        let err = st.last_error.unwrap();
        assert!(err.contains("refused by policy"), "{err}");
    }
}
