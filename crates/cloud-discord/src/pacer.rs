//! The bot's own REST pacing: Discord's per-channel buckets and its global limit, kept from our
//! side even when serenity's rate limiter is off (a REST proxy, the tests' fake) and before
//! Discord's headers are known.
//!
//! Discord counts a request when it *arrives*, an unknown while after the bot sent it (longer on
//! a busy machine) but surely before its answer returned. Both buckets therefore count a request
//! from its answer, and a request that has left but not come back counts already: counting from
//! the send let two requests that left 5.1 s apart arrive less than 5 s apart (a 429, and a lobby
//! that was never posted, seen in the twenty-concurrent Discord story on a loaded machine), and
//! let a burst of late arrivals overfill the global second (`cloud bench chat`, 10 people at
//! once: the lobby edit that enables Approve refused).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// A route's requests in one channel: Discord's buckets for message create/edit hold about 5 per
/// 5 s (folklore; see docs/platform-notes.md).
const BUCKET: (usize, Duration) = (5, Duration::from_millis(5100));

/// Discord's global limit is 50 requests/s per bot; stay a little below.
const GLOBAL: (usize, Duration) = (45, Duration::from_secs(1));

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    Post,
    Edit,
    /// A thread opened on a message.
    Thread,
}

/// One (route, channel)'s answered requests, ascending; holding its lock is the one-at-a-time rule.
type Lane = Arc<tokio::sync::Mutex<VecDeque<Instant>>>;

/// Pacing per (route, channel) plus the global bucket, shared by every session.
///
/// Per route and channel the requests go one at a time, and each one counts in the window from
/// when its answer came back. Globally, a request leaves only while fewer than the limit are in
/// flight or were answered within the last window: every request Discord could count in the
/// same second as this one is among those.
#[derive(Default)]
pub(crate) struct Pacer {
    lanes: Mutex<HashMap<(Route, u64), Lane>>,
    global: Arc<Global>,
}

/// The global bucket: requests in flight, and when the answered ones came back.
#[derive(Default)]
struct Global {
    state: Mutex<GlobalState>,
    /// Signalled whenever a request comes back (a place may have freed).
    returned: Notify,
}

#[derive(Default)]
struct GlobalState {
    in_flight: usize,
    answered: VecDeque<Instant>,
}

/// One request's place in the global bucket; dropping it (answered, or the request abandoned)
/// records its return.
struct GlobalPlace(Arc<Global>);

impl Drop for GlobalPlace {
    fn drop(&mut self) {
        {
            let mut st = self.0.state.lock().expect("pacer lock");
            st.in_flight -= 1;
            st.answered.push_back(Instant::now());
        }
        self.0.returned.notify_waiters();
    }
}

impl Global {
    /// Waits for a place in the global bucket.
    async fn place(self: &Arc<Self>) -> GlobalPlace {
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            // Registered before the check, so a return between the check and the await wakes us.
            returned.as_mut().enable();
            let wake = {
                let mut st = self.state.lock().expect("pacer lock");
                let now = Instant::now();
                let (limit, window) = GLOBAL;
                while st.answered.front().is_some_and(|t| *t + window <= now) {
                    st.answered.pop_front();
                }
                if st.in_flight + st.answered.len() < limit {
                    st.in_flight += 1;
                    return GlobalPlace(self.clone());
                }
                // Full: the oldest answer leaves the window then, unless a return comes first.
                st.answered.front().map(|t| *t + window)
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = returned => {}
                    }
                }
                None => returned.await,
            }
        }
    }
}

/// The earliest instant ≥ `now` at which one more request fits `limit` per `window` in `q`
/// (instants, ascending).
fn earliest(q: &mut VecDeque<Instant>, now: Instant, (limit, window): (usize, Duration)) -> Instant {
    while q.front().map(|t| *t + window <= now).unwrap_or(false) {
        q.pop_front();
    }
    let fits = if q.len() >= limit {
        q[q.len() - limit] + window
    } else {
        now
    };
    fits.max(now).max(q.back().copied().unwrap_or(now))
}

impl Pacer {
    /// Sends `request` on `route` in `channel` once it fits that bucket and the global one, and
    /// returns its answer.
    pub(crate) async fn send<T>(&self, route: Route, channel: u64, request: impl Future<Output = T>) -> T {
        let lane = self
            .lanes
            .lock()
            .expect("pacer lock")
            .entry((route, channel))
            .or_default()
            .clone();
        let mut answered = lane.lock().await;
        let at = earliest(&mut answered, Instant::now(), BUCKET);
        tokio::time::sleep_until(at).await;
        let place = self.global.place().await;
        let answer = request.await;
        drop(place);
        answered.push_back(Instant::now());
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Discord counts a request when it arrives, at the latest when its answer leaves. However
    /// slow the answers (a loaded machine, a slow network), no six requests of one route and
    /// channel ever fall in one 5 s window as Discord sees them.
    #[tokio::test(start_paused = true)]
    async fn requests_stay_inside_discords_window_however_late_they_arrive() {
        let pacer = Arc::new(Pacer::default());
        let counted = Arc::new(Mutex::new(Vec::new()));
        let mut sent = Vec::new();
        for i in 0..12u64 {
            let (pacer, counted) = (pacer.clone(), counted.clone());
            sent.push(tokio::spawn(async move {
                // The first five take 700 ms to reach Discord and come back, the rest 20 ms:
                // counted from when they left, the sixth would reach Discord 4.4 s after the
                // first did.
                let latency = Duration::from_millis(if i < 5 { 700 } else { 20 });
                let request = async {
                    tokio::time::sleep(latency).await;
                    counted.lock().unwrap().push(Instant::now());
                };
                pacer.send(Route::Post, 42, request).await
            }));
            tokio::task::yield_now().await;
        }
        for s in sent {
            s.await.unwrap();
        }
        let counted = counted.lock().unwrap().clone();
        assert_eq!(counted.len(), 12);
        for w in counted.windows(6) {
            assert!(
                w[5] - w[0] >= Duration::from_secs(5),
                "six requests within {:?}",
                w[5] - w[0]
            );
        }
    }

    /// The global second, as Discord counts it (at arrival): 200 requests in 200 channels, the
    /// first 45 slow to arrive (800 ms on the way) and the rest quick. Counted from their sends,
    /// the quick ones would pile into the same second as the slow ones' arrivals; no 51 arrivals
    /// ever fall in one second.
    #[tokio::test(start_paused = true)]
    async fn no_second_holds_more_arrivals_than_discords_global_limit() {
        let pacer = Arc::new(Pacer::default());
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let mut sent = Vec::new();
        for i in 0..200u64 {
            let (pacer, arrivals) = (pacer.clone(), arrivals.clone());
            sent.push(tokio::spawn(async move {
                let (to, back) = if i < 45 { (800, 10) } else { (5, 5) };
                let request = async {
                    tokio::time::sleep(Duration::from_millis(to)).await;
                    arrivals.lock().unwrap().push(Instant::now());
                    tokio::time::sleep(Duration::from_millis(back)).await;
                };
                pacer.send(Route::Edit, i, request).await
            }));
        }
        for s in sent {
            s.await.unwrap();
        }
        let mut arrivals = arrivals.lock().unwrap().clone();
        arrivals.sort();
        assert_eq!(arrivals.len(), 200);
        for w in arrivals.windows(51) {
            assert!(
                w[50] - w[0] >= Duration::from_secs(1),
                "51 requests reached Discord within {:?}",
                w[50] - w[0]
            );
        }
    }
}
