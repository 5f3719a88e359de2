//! The supervisor: starts one partition actor per (topic, partition), restarts a failed one
//! from its durable state within a budget, and past the budget marks the partition failed.
//! ractor's default would stop the supervisor when a child dies; this one overrides that.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use serde::Serialize;
use tokio::sync::watch;

use crate::actors::partition::{PartitionActor, PartitionArgs, PartitionContext, PartitionMsg};
use crate::ident::TopicPartition;
use crate::telemetry::PartitionRestarted;

/// A partition's place in the supervision tree, as readers see it.
#[derive(Clone)]
pub struct Slot {
    pub actor: Option<ActorRef<PartitionMsg>>,
    pub status: PartitionStatus,
    /// Restarts since the process started.
    pub restarts: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PartitionStatus {
    Running,
    /// Out of restarts; the reason of the last failure.
    Failed {
        reason: String,
    },
}

/// Who runs each partition; read by feeders and by `/readyz`. Every change of a slot is
/// signalled, so a feeder whose actor died waits for its restart instead of polling.
pub struct Registry {
    slots: RwLock<HashMap<TopicPartition, Slot>>,
    changed: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            slots: RwLock::new(HashMap::new()),
            changed: watch::channel(0).0,
        }
    }
}

impl Registry {
    /// Signals every change of a slot (an actor started, restarted, failed or released).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Slot> {
        self.slots.read().get(tp).cloned()
    }

    pub fn all(&self) -> Vec<(TopicPartition, Slot)> {
        let mut v: Vec<_> = self
            .slots
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn failed(&self) -> Vec<(TopicPartition, String)> {
        self.all()
            .into_iter()
            .filter_map(|(tp, s)| match s.status {
                PartitionStatus::Failed { reason } => Some((tp, reason)),
                PartitionStatus::Running => None,
            })
            .collect()
    }

    fn remove(&self, tp: &TopicPartition) {
        self.slots.write().remove(tp);
        self.changed.send_modify(|v| *v += 1);
    }

    fn set(&self, tp: TopicPartition, slot: Slot) {
        self.slots.write().insert(tp, slot);
        self.changed.send_modify(|v| *v += 1);
    }
}

/// Why a partition has no actor to take its records.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum EnsureError {
    #[error("partition actor for {tp} failed to start: {reason}")]
    Start { tp: TopicPartition, reason: String },
    #[error("partition {tp} failed: {reason}")]
    Failed { tp: TopicPartition, reason: String },
    #[error("shutting down")]
    ShuttingDown,
}

/// How many restarts are allowed in what window.
#[derive(Clone, Copy, Debug)]
pub struct RestartPolicy {
    pub max_restarts: u32,
    pub window: Duration,
}

pub struct Supervisor;

pub struct SupervisorArgs {
    pub ctx: Arc<PartitionContext>,
    pub registry: Arc<Registry>,
    pub policy: RestartPolicy,
}

pub enum SupervisorMsg {
    /// The actor for this partition, started if it is not running. Fails for a failed
    /// partition.
    Ensure(
        TopicPartition,
        RpcReplyPort<Result<ActorRef<PartitionMsg>, EnsureError>>,
    ),
    /// Stops every partition actor and waits for them.
    /// Stop these partitions' actors and forget them (their rows leave the tables in memory;
    /// their durable state stays): the partitions moved to another node.
    Release(Vec<TopicPartition>, RpcReplyPort<()>),
    StopAll(RpcReplyPort<()>),
}

pub struct SupervisorState {
    ctx: Arc<PartitionContext>,
    registry: Arc<Registry>,
    policy: RestartPolicy,
    children: HashMap<ActorId, TopicPartition>,
    history: HashMap<TopicPartition, VecDeque<Instant>>,
    stopping: bool,
}

impl SupervisorState {
    async fn spawn(
        &mut self,
        myself: &ActorCell,
        tp: &TopicPartition,
    ) -> Result<ActorRef<PartitionMsg>, EnsureError> {
        let args = PartitionArgs {
            tp: tp.clone(),
            ctx: self.ctx.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, PartitionActor, args, myself.clone())
            .await
            .map_err(|e| EnsureError::Start {
                tp: tp.clone(),
                reason: e.to_string(),
            })?;
        self.children.insert(actor.get_id(), tp.clone());
        let restarts = self.registry.get(tp).map(|s| s.restarts).unwrap_or(0);
        self.registry.set(
            tp.clone(),
            Slot {
                actor: Some(actor.clone()),
                status: PartitionStatus::Running,
                restarts,
            },
        );
        Ok(actor)
    }

    /// After a child failed: restart it within the budget, or mark it failed.
    async fn on_failure(&mut self, myself: &ActorCell, tp: TopicPartition, reason: String) {
        let mut reason = reason;
        loop {
            let now = Instant::now();
            let history = self.history.entry(tp.clone()).or_default();
            while history
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.policy.window)
            {
                history.pop_front();
            }
            let gave_up = history.len() as u32 >= self.policy.max_restarts;
            PartitionRestarted {
                tp: &tp,
                reason: &reason,
                restarts_in_window: history.len(),
                gave_up,
            }
            .emit(&self.ctx.metrics);
            if gave_up {
                let restarts = self.registry.get(&tp).map(|s| s.restarts).unwrap_or(0);
                self.registry.set(
                    tp,
                    Slot {
                        actor: None,
                        status: PartitionStatus::Failed { reason },
                        restarts,
                    },
                );
                return;
            }
            history.push_back(now);
            if let Some(mut slot) = self.registry.get(&tp) {
                slot.restarts += 1;
                slot.actor = None;
                self.registry.set(tp.clone(), slot);
            }
            match self.spawn(myself, &tp).await {
                Ok(_) => return,
                Err(e) => reason = e.to_string(),
            }
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            ctx: args.ctx,
            registry: args.registry,
            policy: args.policy,
            children: HashMap::new(),
            history: HashMap::new(),
            stopping: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Ensure(tp, reply) => {
                let result = match state.registry.get(&tp) {
                    Some(Slot {
                        actor: Some(a),
                        status: PartitionStatus::Running,
                        ..
                    }) => Ok(a),
                    Some(Slot {
                        status: PartitionStatus::Failed { reason },
                        ..
                    }) => Err(EnsureError::Failed {
                        tp: tp.clone(),
                        reason,
                    }),
                    _ if state.stopping => Err(EnsureError::ShuttingDown),
                    _ => match state.spawn(&myself.get_cell(), &tp).await {
                        Ok(a) => Ok(a),
                        Err(e) => {
                            state
                                .on_failure(&myself.get_cell(), tp.clone(), e.to_string())
                                .await;
                            state.registry.get(&tp).and_then(|s| s.actor).ok_or(e)
                        }
                    },
                };
                let _ = reply.send(result);
            }
            SupervisorMsg::Release(tps, reply) => {
                for tp in tps {
                    if let Some(slot) = state.registry.get(&tp) {
                        if let Some(a) = slot.actor {
                            state.children.remove(&a.get_id());
                            let _ = a.stop_and_wait(None, Some(Duration::from_secs(30))).await;
                        }
                        state.registry.remove(&tp);
                    }
                    state.history.remove(&tp);
                    if let Some(t) = state.ctx.catalog.for_topic(&tp.topic) {
                        t.remove_partition(tp.partition);
                    }
                }
                let _ = reply.send(());
            }
            SupervisorMsg::StopAll(reply) => {
                state.stopping = true;
                for (_, slot) in state.registry.all() {
                    if let Some(a) = slot.actor {
                        let _ = a.stop_and_wait(None, Some(Duration::from_secs(10))).await;
                    }
                }
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                if let Some(tp) = state.children.remove(&cell.get_id())
                    && !state.stopping
                {
                    state
                        .on_failure(&myself.get_cell(), tp, err.to_string())
                        .await;
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                if let Some(tp) = state.children.remove(&cell.get_id())
                    && !state.stopping
                {
                    let reason = reason.unwrap_or_else(|| "stopped unexpectedly".into());
                    state.on_failure(&myself.get_cell(), tp, reason).await;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
