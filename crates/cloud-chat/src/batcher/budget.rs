//! A sliding-window rate limiter over a caller-supplied clock.

use std::collections::VecDeque;
use std::time::Instant;

use super::limits::RateBudget;

/// Remembers when the last `ops` operations happened. An operation at `t` is allowed iff fewer
/// than `ops` operations happened in `(t - window, t]`; then no half-open window `[a, a + window)`
/// can ever hold more than `ops` operations.
#[derive(Debug, Clone)]
pub(crate) struct SlidingWindow {
    ops: usize,
    window: std::time::Duration,
    /// Times of the most recent operations, oldest first; never more than `ops` entries.
    sent: VecDeque<Instant>,
}

impl SlidingWindow {
    pub fn new(budget: RateBudget) -> Self {
        let ops = budget.ops.max(1) as usize;
        SlidingWindow {
            ops,
            window: budget.window,
            sent: VecDeque::with_capacity(ops),
        }
    }

    /// The earliest instant at which one more operation is allowed (`None`: any time).
    pub fn free_at(&self) -> Option<Instant> {
        if self.sent.len() < self.ops {
            None
        } else {
            // The `ops`-th most recent operation must have left the window.
            Some(self.sent[self.sent.len() - self.ops] + self.window)
        }
    }

    /// The earliest instant at which `k` more operations are allowed (`None` in the returned
    /// option: any time; outer `None`: never, `k` exceeds the budget).
    pub fn free_at_n(&self, k: usize) -> Option<Option<Instant>> {
        if k > self.ops {
            return None;
        }
        // The (ops - k + 1)-th most recent operation must have left the window.
        let must_leave = self.ops - k + 1;
        Some(if self.sent.len() < must_leave {
            None
        } else {
            Some(self.sent[self.sent.len() - must_leave] + self.window)
        })
    }

    pub fn has_room(&self, now: Instant) -> bool {
        self.free_at().is_none_or(|at| now >= at)
    }

    /// How many operations are allowed at `now`.
    pub fn available(&self, now: Instant) -> usize {
        let recent = self
            .sent
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < self.window)
            .count();
        self.ops - recent
    }

    pub fn record(&mut self, now: Instant) {
        debug_assert!(self.has_room(now), "operation recorded without budget");
        self.sent.push_back(now);
        while self.sent.len() > self.ops {
            self.sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn allows_ops_per_window_then_waits_for_the_oldest_to_leave() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::new(RateBudget::new(2, Duration::from_secs(5)));
        assert!(w.has_room(t0));
        w.record(t0);
        w.record(t0 + Duration::from_secs(1));
        assert!(!w.has_room(t0 + Duration::from_secs(4)));
        assert_eq!(w.free_at(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(w.available(t0 + Duration::from_secs(4)), 0);
        assert_eq!(w.free_at_n(2), Some(Some(t0 + Duration::from_secs(6))));
        assert_eq!(w.free_at_n(3), None);
        assert_eq!(w.available(t0 + Duration::from_millis(5500)), 1);
        assert!(w.has_room(t0 + Duration::from_secs(5)));
        w.record(t0 + Duration::from_secs(5));
        assert_eq!(w.free_at(), Some(t0 + Duration::from_secs(6)));
    }
}
