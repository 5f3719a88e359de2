//! What comes in and how it is decoded: sources produce [`record::Record`]s; the Debezium
//! decoder turns each into a change.

pub mod debezium;
pub mod demo;
pub mod partitioner;
pub mod record;
pub mod replay;
mod rng;
