//! A test-only fault hook: makes one partition's actor panic at one offset, a set number of
//! times, so supervision can be tested against the real actor.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::ident::{Offset, TopicPartition};

/// A `debug.fault_panic` that does not read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultSpecError {
    #[error("fault_panic {0:?}: expected topic:partition:offset:times")]
    Shape(String),
    #[error("fault_panic {spec:?}: {number:?} is not a number")]
    Number { spec: String, number: String },
}

/// Where and how often to panic. The count lives here, outside the actor, so a restarted
/// actor sees how many times it has already failed.
#[derive(Debug, Default)]
pub struct FaultHook {
    target: Option<(TopicPartition, i64, u32)>,
    fired: AtomicU32,
}

impl FaultHook {
    /// Parses `topic:partition:offset:times` (times 0 = always).
    pub fn parse(spec: Option<&str>) -> Result<Self, FaultSpecError> {
        let Some(spec) = spec else {
            return Ok(Self::default());
        };
        let parts: Vec<&str> = spec.rsplitn(4, ':').collect();
        let [times, offset, partition, topic] = parts.as_slice() else {
            return Err(FaultSpecError::Shape(spec.to_string()));
        };
        let num = |s: &str| {
            s.parse::<i64>().map_err(|_| FaultSpecError::Number {
                spec: spec.to_string(),
                number: s.to_string(),
            })
        };
        Ok(Self {
            target: Some((
                TopicPartition::new(*topic, num(partition)? as i32),
                num(offset)?,
                num(times)? as u32,
            )),
            fired: AtomicU32::new(0),
        })
    }

    /// Panics if this is the targeted record and the budget of panics is not spent.
    pub fn check(&self, tp: &TopicPartition, offset: Offset) {
        if let Some((t, o, times)) = &self.target
            && t == tp
            && *o == offset.get()
        {
            let n = self.fired.fetch_add(1, Ordering::SeqCst);
            if *times == 0 || n < *times {
                panic!("injected fault at {tp} offset {offset} (#{})", n + 1);
            }
        }
    }
}
