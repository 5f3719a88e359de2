//! What comes in and how it is decoded: sources produce [`record::Record`]s; the Debezium
//! decoder turns each into a change.

pub mod avro;
pub mod change;
pub mod control;
pub mod debezium;
pub mod demo;
pub mod event;
pub mod fields;
pub mod kafka;
pub mod log;
pub mod partitioner;
pub mod produce;
pub mod record;
pub mod registry;
pub mod replay;
mod rng;
