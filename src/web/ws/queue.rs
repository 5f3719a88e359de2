//! A connection's outbound queue: bounded, never waited on by publishers. A frame that finds
//! it full is counted as missed; the writer closes a connection whose queue stays full.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::ErrorCode;
use crate::web::ws::protocol::ServerFrame;

/// One frame waiting to be written.
pub(super) struct Out {
    pub(super) text: String,
    pub(super) kind: &'static str,
    /// When the change it carries became durable (µs), for push latency.
    pub(super) applied_us: Option<i64>,
}

/// A connection's outbound queue.
pub(super) struct Queue {
    inner: Mutex<QueueInner>,
    pub(super) ready: Notify,
    /// Woken when the queue closes.
    shut: Notify,
    cap: usize,
}

#[derive(Default)]
struct QueueInner {
    frames: VecDeque<Out>,
    full_since: Option<Instant>,
    missed: u64,
    /// Changes went by uncounted while the feed was paused for this full queue.
    gap: bool,
    closed: bool,
}

impl Queue {
    pub(super) fn new(cap: usize) -> Arc<Queue> {
        Arc::new(Queue {
            inner: Mutex::new(QueueInner::default()),
            shut: Notify::new(),
            ready: Notify::new(),
            cap: cap.max(1),
        })
    }

    /// Queues a frame unless the queue is full (never waits).
    pub(super) fn push(&self, out: Out) -> bool {
        let mut q = self.inner.lock();
        if q.closed {
            return false;
        }
        if q.frames.len() >= self.cap {
            q.full_since.get_or_insert_with(Instant::now);
            q.missed += 1;
            return false;
        }
        q.frames.push_back(out);
        drop(q);
        self.ready.notify_one();
        true
    }

    pub(super) fn pop(&self) -> Option<Out> {
        let mut q = self.inner.lock();
        let f = q.frames.pop_front();
        if q.frames.len() < self.cap && q.full_since.take().is_some() && (q.missed > 0 || q.gap) {
            // The client reads again before the deadline: tell it what it missed.
            let n = std::mem::take(&mut q.missed);
            let more = if std::mem::take(&mut q.gap) {
                " (at least; the changes of tailed tables meanwhile were not counted)"
            } else {
                ""
            };
            q.frames.push_back(error_frame(
                ErrorCode::FramesMissed,
                format!(
                    "{n} frames were not delivered while this connection's queue was full{more}"
                ),
            ));
        }
        f
    }

    pub(super) fn mark_gap(&self) {
        let mut q = self.inner.lock();
        q.gap = true;
        q.full_since.get_or_insert_with(Instant::now);
    }

    pub(super) fn is_full(&self) -> bool {
        let q = self.inner.lock();
        q.closed || q.frames.len() >= self.cap
    }

    /// Counts frames not even built because the queue was full.
    pub(super) fn miss(&self, n: u64) {
        let mut q = self.inner.lock();
        q.full_since.get_or_insert_with(Instant::now);
        q.missed += n;
    }

    /// How long the queue has been full, and the frames it could not take.
    pub(super) fn full_for(&self) -> Option<(Duration, u64)> {
        let q = self.inner.lock();
        q.full_since.map(|t| (t.elapsed(), q.missed))
    }

    pub(super) fn close(&self) {
        self.inner.lock().closed = true;
        self.ready.notify_one();
        self.shut.notify_waiters();
    }

    /// Resolves once the queue is closed (the writer gave up on the connection).
    pub(super) async fn closed(&self) {
        loop {
            let woken = self.shut.notified();
            if self.inner.lock().closed {
                return;
            }
            woken.await;
        }
    }
}

/// A frame of `kind` (the metrics label) for a typed server frame.
pub(super) fn frame(kind: &'static str, f: &ServerFrame) -> Out {
    Out {
        text: serde_json::to_string(f).expect("a frame serializes"),
        kind,
        applied_us: None,
    }
}

pub(super) fn error_frame(code: ErrorCode, message: impl AsRef<str>) -> Out {
    frame(
        "error",
        &ServerFrame::Error {
            code,
            message: message.as_ref(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_frames_and_remembers_since_when() {
        let q = Queue::new(2);
        let f = || frame("x", &ServerFrame::Unsubscribed { sub: "s" });
        assert!(q.push(f()));
        assert!(q.push(f()));
        assert!(!q.push(f()));
        let (_, missed) = q.full_for().unwrap();
        assert_eq!(missed, 1);
        assert!(q.pop().is_some());
        assert!(q.full_for().is_none(), "room again: no longer full");
    }
}
