//! Stateful fakes of the chat platforms, compiled into the library so that both the integration
//! tests and `cloud bench discord` (which runs the fake on loopback) can use them. They are never
//! started by `cloud serve`.

pub mod fake_discord;
pub mod flood_engine;
