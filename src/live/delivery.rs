//! The webhook workers: at most `live.webhook_workers` threads deliver for every rule. A rule
//! with events waiting is queued here once; a worker takes it, delivers its events in order
//! until its queue is empty, then takes the next rule. A thousand rules firing at receivers
//! that never answer hold these threads, not a thousand.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// Work a delivery worker can do: drain one rule's queue.
pub trait Drain: Send + Sync {
    fn drain(&self);
}

/// The bounded pool of delivery threads, started as work first arrives.
pub struct Pool {
    max_workers: usize,
    state: Mutex<PoolState>,
    ready: Condvar,
}

#[derive(Default)]
struct PoolState {
    waiting: VecDeque<Arc<dyn Drain>>,
    workers: usize,
    idle: usize,
}

impl Pool {
    pub fn new(max_workers: usize) -> Arc<Pool> {
        Arc::new(Pool {
            max_workers: max_workers.max(1),
            state: Mutex::new(PoolState::default()),
            ready: Condvar::new(),
        })
    }

    /// Queues `work`; a worker picks it up (one is started if none is idle and the pool is
    /// not full).
    pub fn submit(self: &Arc<Self>, work: Arc<dyn Drain>) {
        let mut st = self.state.lock();
        st.waiting.push_back(work);
        if st.idle > 0 {
            self.ready.notify_one();
            return;
        }
        if st.workers < self.max_workers {
            st.workers += 1;
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name("streamq-webhook".into())
                .spawn(move || me.work());
            if let Err(e) = spawned {
                st.workers -= 1;
                tracing::error!(error = %e, "cannot start a webhook worker; deliveries wait");
            }
        }
    }

    /// Worker threads started so far.
    pub fn workers(&self) -> usize {
        self.state.lock().workers
    }

    fn work(&self) {
        loop {
            let next = {
                let mut st = self.state.lock();
                loop {
                    if let Some(w) = st.waiting.pop_front() {
                        break w;
                    }
                    st.idle += 1;
                    self.ready.wait(&mut st);
                    st.idle -= 1;
                }
            };
            next.drain();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    struct Slow(Arc<AtomicUsize>, mpsc::Sender<()>);

    impl Drain for Slow {
        fn drain(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            let _ = self.1.send(());
        }
    }

    #[test]
    fn many_rules_share_a_bounded_number_of_threads() {
        let pool = Pool::new(3);
        let done = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for _ in 0..200 {
            pool.submit(Arc::new(Slow(done.clone(), tx.clone())));
        }
        for _ in 0..200 {
            rx.recv().unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 200);
        assert!(pool.workers() <= 3, "{} workers", pool.workers());
    }
}
