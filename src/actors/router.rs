//! The router: takes records from a source, cuts them into per-partition micro-batches and
//! hands each partition's batches, in order, to a feeder task that delivers them to the
//! partition actor. Bounded queues give backpressure: a slow partition makes the source wait,
//! never grow memory. A feeder whose actor died re-sends the batch to the restarted actor
//! (records already applied are skipped by offset, so nothing doubles).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::ActorRef;
use ractor::rpc::CallResult;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::partition::PartitionMsg;
use crate::actors::supervisor::{PartitionStatus, Registry, SupervisorMsg};
use crate::ident::TopicPartition;
use crate::ingest::event::SourceEvent;
use crate::ingest::record::Record;
use crate::store::Store;

/// Router settings.
#[derive(Clone, Copy, Debug)]
pub struct RouterConfig {
    pub batch_size: usize,
    pub linger: Duration,
    pub queue_batches: usize,
}

/// Counters the router keeps.
#[derive(Default, Debug)]
pub struct RouterStats {
    pub records_routed: AtomicU64,
    pub source_faults: AtomicU64,
    /// Records not delivered because their partition had failed.
    pub undelivered: AtomicU64,
}

struct Feeder {
    tx: mpsc::Sender<Arc<Vec<Record>>>,
    handle: JoinHandle<()>,
}

/// Routes until the source ends (returns `true`) or shutdown is requested (`false`); either
/// way every batch already cut is delivered before it returns.
#[allow(clippy::too_many_arguments)]
pub async fn route(
    mut rx: mpsc::Receiver<SourceEvent>,
    cfg: RouterConfig,
    supervisor: ActorRef<SupervisorMsg>,
    registry: Arc<Registry>,
    store: Arc<Store>,
    stats: Arc<RouterStats>,
    progress: Arc<crate::actors::progress::Progress>,
    shutdown: CancellationToken,
) -> bool {
    let mut feeders: HashMap<TopicPartition, Feeder> = HashMap::new();
    let mut buffers: rustc_hash::FxHashMap<(Arc<str>, i32), Vec<Record>> = Default::default();
    let mut tick = tokio::time::interval(cfg.linger.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break false,
            ev = rx.recv() => match ev {
                Some(SourceEvent::Records(records)) => {
                    stats.records_routed.fetch_add(records.len() as u64, Ordering::Relaxed);
                    progress.routed(&records);
                    for r in records {
                        let key = (r.topic.clone(), r.partition);
                        let buf = buffers.entry(key).or_default();
                        buf.push(r);
                        if buf.len() >= cfg.batch_size {
                            let batch = std::mem::take(buf);
                            send(&mut feeders, batch, &cfg, &supervisor, &registry, &stats).await;
                        }
                    }
                }
                Some(SourceEvent::Fault(f)) => {
                    stats.source_faults.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(position = %f.position, reason = %f.reason, "source input quarantined");
                    if let Err(e) = store.quarantine_source(&f) {
                        tracing::error!(error = %e, "cannot write the quarantine");
                    }
                }
                Some(SourceEvent::Assigned(tps)) => {
                    for tp in tps {
                        // Behind until the source has seen its log's end.
                        progress.reading(&tp, true);
                        if let Err(e) = supervisor
                            .call(|r| SupervisorMsg::Ensure(tp.clone(), r), Some(Duration::from_secs(120)))
                            .await
                        {
                            tracing::error!(partition = %tp, error = %e, "cannot start the partition actor");
                        }
                    }
                }
                Some(SourceEvent::Reading(states)) => {
                    for (tp, behind) in &states {
                        progress.reading(tp, *behind);
                    }
                }
                Some(SourceEvent::Revoke(tps, done)) => {
                    for tp in &tps {
                        progress.reading(tp, false);
                        if let Some(buf) = buffers.remove(&(Arc::from(tp.topic.as_str()), tp.partition))
                            && !buf.is_empty()
                        {
                            send(&mut feeders, buf, &cfg, &supervisor, &registry, &stats).await;
                        }
                        if let Some(f) = feeders.remove(tp) {
                            drop(f.tx);
                            let _ = f.handle.await;
                        }
                    }
                    let _ = supervisor
                        .call(|r| SupervisorMsg::Release(tps, r), Some(Duration::from_secs(120)))
                        .await;
                    let _ = done.send(());
                }
                Some(SourceEvent::End) | None => break true,
            },
            _ = tick.tick() => {
                for buf in buffers.values_mut() {
                    if !buf.is_empty() {
                        let batch = std::mem::take(buf);
                        send(&mut feeders, batch, &cfg, &supervisor, &registry, &stats).await;
                    }
                }
            }
        }
    };
    for (_, buf) in buffers.drain() {
        if !buf.is_empty() {
            send(&mut feeders, buf, &cfg, &supervisor, &registry, &stats).await;
        }
    }
    for (_, f) in feeders.drain() {
        drop(f.tx);
        let _ = f.handle.await;
    }
    ended
}

async fn send(
    feeders: &mut HashMap<TopicPartition, Feeder>,
    batch: Vec<Record>,
    cfg: &RouterConfig,
    supervisor: &ActorRef<SupervisorMsg>,
    registry: &Arc<Registry>,
    stats: &Arc<RouterStats>,
) {
    let tp = batch[0].topic_partition();
    let feeder = feeders.entry(tp.clone()).or_insert_with(|| {
        let (tx, rx) = mpsc::channel(cfg.queue_batches.max(1));
        let handle = tokio::spawn(feed(
            tp,
            rx,
            supervisor.clone(),
            registry.clone(),
            stats.clone(),
        ));
        Feeder { tx, handle }
    });
    let _ = feeder.tx.send(Arc::new(batch)).await;
}

/// Delivers one partition's batches in order, re-sending to a restarted actor.
async fn feed(
    tp: TopicPartition,
    mut rx: mpsc::Receiver<Arc<Vec<Record>>>,
    supervisor: ActorRef<SupervisorMsg>,
    registry: Arc<Registry>,
    stats: Arc<RouterStats>,
) {
    let mut failed = false;
    while let Some(batch) = rx.recv().await {
        if failed {
            stats
                .undelivered
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            continue;
        }
        loop {
            // Changes of the registry from here on (a restart, a failure) wake the retry.
            let mut slots = registry.watch();
            slots.mark_unchanged();
            let actor = match registry.get(&tp) {
                Some(slot) if matches!(slot.status, PartitionStatus::Failed { .. }) => None,
                Some(slot) if slot.actor.is_some() => slot.actor,
                _ => match supervisor
                    .call(
                        |r| SupervisorMsg::Ensure(tp.clone(), r),
                        Some(Duration::from_secs(60)),
                    )
                    .await
                {
                    Ok(CallResult::Success(Ok(a))) => Some(a),
                    _ => None,
                },
            };
            let Some(actor) = actor else {
                if registry
                    .get(&tp)
                    .is_some_and(|s| matches!(s.status, PartitionStatus::Failed { .. }))
                {
                    tracing::error!(partition = %tp, "partition failed; its records are not applied until restart");
                    stats
                        .undelivered
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    failed = true;
                    break;
                }
                wait_for_restart(&mut slots).await;
                continue;
            };
            match actor
                .call(
                    |r| PartitionMsg::Apply(batch.clone(), r),
                    Some(Duration::from_secs(120)),
                )
                .await
            {
                Ok(CallResult::Success(Ok(_))) => break,
                Ok(CallResult::Success(Err(e))) => {
                    tracing::warn!(partition = %tp, error = %e, "batch failed; retrying after restart");
                }
                Ok(CallResult::Timeout) => {
                    tracing::warn!(partition = %tp, "batch timed out; re-sending");
                }
                _ => {}
            }
            // The actor died (or is restarting): wait for the supervisor, then re-send.
            wait_for_restart(&mut slots).await;
        }
    }
}

/// Waits until the supervisor changes a slot (restarts or fails an actor). A bound remains
/// for an actor that dies without the supervisor seeing it yet: its retry comes at the latest
/// after a second.
async fn wait_for_restart(slots: &mut tokio::sync::watch::Receiver<u64>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), slots.changed()).await;
}
