//! The engine operations the stand-in runs. Named below both the engine that runs them and
//! the output that titles them, so neither has to reach up into the other.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Preview,
    Up,
    Destroy,
    Refresh,
}
