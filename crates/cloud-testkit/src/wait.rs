//! How long a test waits for an event before it gives up.
//!
//! Tests wait for events (a message in a fake chat, a session event, a line of output, a gate
//! the engine reached), never for time to pass: a wait returns the moment its event arrives, so
//! a loaded machine makes a test slower, never red. [`SAFETY_NET`] only bounds a wait for an
//! event that never comes (a bug), so that the test fails with what happened so far instead of
//! hanging; it is deliberately far longer than any wait takes on a busy 2-core machine (the
//! longest, a 400-resource apply streamed into Slack at Slack's own rate limits, takes about a
//! minute there), and no test relies on it firing.

use std::time::Duration;

/// The longest any single wait of a test may take before the test fails with the conversation
/// or state so far (see the module documentation).
pub const SAFETY_NET: Duration = Duration::from_secs(300);
