//! The test kit: stateful fakes of the chat platforms, fake engines, the batcher simulator and
//! helpers shared by the integration tests and the benchmarks. Only `[dev-dependencies]` (and the
//! `cloud-bench` program) name this crate; nothing in the product links it.

pub mod batcher_sim;
pub mod db;
pub mod fake_discord;
pub mod fake_engine;
pub mod fake_slack;
pub mod flood_engine;
pub mod paths;
