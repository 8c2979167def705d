//! What a chat adapter shows of a session as it moves, transport-neutral: every adapter
//! follows the same [`Feed`] of session events, hands each session's events to that session's
//! [`SessionFeed`], and renders the [`Update`]s it returns — redraw the lobby, open the thread
//! and stream the apply into it through the output batcher, a line for the thread, the lobby of
//! a follow-up session. The data it renders comes from here too ([`lobby`], [`full_log`]), and
//! where a lobby lives on a platform is recorded here ([`save_lobby`], [`lobby_row`]), so that
//! a restarted bot keeps the lobbies it posted current.
//!
//! Everything is rendered from the durable session event log, not from this process's memory:
//! a CLI apply, another replica's apply or one that ended while the bot was down reaches the
//! lobby and thread the same way. Each [`SessionFeed`] reads its session's log from the cursor
//! its lobby was last drawn at ([`SessionFeed::save_cursor`] records it in `chat_lobbies`), so
//! nothing is skipped or drawn twice; events from the [`Feed`] only say "there is more".
//!
//! Nothing here imports a chat platform crate; the adapters never see the orchestrator.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::warn;

use crate::batcher::{BatchInput, SessionOutcome, SessionSummary, StackEvent};
use crate::progress::StackResult;
use crate::service::Core;
use crate::view::{self, BusyStack, LobbyExtras, LobbyView, Reply, SummaryView};
use cloud_core::event_feed::EventFeed;
use cloud_core::orchestrator::{LoggedEvent, SessionEventKind};
use cloud_domain::session::{Platform, Principal, SessionId, SessionState, StackName, StackState};

/// Where a session's lobby lives on one platform: the channel, the message, and the thread once
/// there is one. Recorded so a restarted bot finds the lobbies its predecessor posted.
pub use cloud_core::store::ChatLobbyRow as LobbyRow;

/// Every session's events from the log, in commit order, whichever process wrote them.
pub struct Feed {
    store: cloud_core::store::Store,
    /// Opened on the first [`Feed::next`], from the end of the log then (lobbies that were
    /// behind before are found with [`lobbies_behind`]).
    log: Option<EventFeed>,
    /// Read but not yet handed out (the log is read in pages).
    buffer: std::collections::VecDeque<LoggedEvent>,
}

/// One item of the [`Feed`].
pub enum FeedItem {
    /// Something happened to `session`: hand it to that session's [`SessionFeed`].
    Event(SessionId, Event),
    /// The subscriber fell behind and `n` events were dropped: redraw what you show. (The log
    /// loses nothing; kept for adapters that also listen to in-process events.)
    Lagged(u64),
}

/// One session event, opaque to adapters.
pub struct Event {
    cursor: i64,
    kind: SessionEventKind,
}

impl Event {
    /// Progress lines and stack moves: they matter only to a session whose apply this process
    /// streams, so a router need not look up a lobby for them.
    pub fn is_stream_only(&self) -> bool {
        matches!(
            self.kind,
            SessionEventKind::Progress { .. }
                | SessionEventKind::Output { .. }
                | SessionEventKind::StackStateChanged { .. }
        )
    }

    /// Where this event is in the log.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }
}

impl Feed {
    /// Follows every session from now on.
    pub fn subscribe(core: &Core) -> Feed {
        Feed {
            store: core.store().clone(),
            log: None,
            buffer: Default::default(),
        }
    }

    /// The next event; waits while there is none. `None` only when the store is closed.
    pub async fn next(&mut self) -> Option<FeedItem> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(FeedItem::Event(
                    event.session,
                    Event {
                        cursor: event.cursor,
                        kind: event.kind,
                    },
                ));
            }
            if self.store.is_closed() {
                return None;
            }
            if self.log.is_none() {
                match EventFeed::all_from_now(&self.store).await {
                    Ok(feed) => self.log = Some(feed),
                    Err(e) => {
                        warn!(error = %e, "cannot read the session event log; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let log = self.log.as_mut().expect("opened above");
            match log.next().await {
                Ok(events) => self.buffer.extend(events),
                Err(e) => {
                    warn!(error = %e, "cannot read the session event log; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// The lobbies on `platform` whose session's log has events they have not drawn, with the
/// cursor they were drawn at: what a starting bot redraws (sessions that moved or ended while
/// it was down, or that another process drove).
pub async fn lobbies_behind(core: &Core, platform: Platform) -> Vec<LobbyRow> {
    match core.store().lobbies_behind(platform).await {
        Ok(rows) => rows.into_iter().map(|(row, _)| row).collect(),
        Err(e) => {
            warn!(error = %e, "cannot list the lobbies to redraw");
            vec![]
        }
    }
}

/// How soon the lobby should show a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redraw {
    /// The session moved, or someone acted on it: show it now.
    Now,
    /// A stack moved: worth showing, but an adapter short of edits may coalesce it with the
    /// next one.
    Soon,
}

/// What an adapter does for one session event.
#[derive(Debug)]
pub enum Update {
    /// Redraw the lobby from [`lobby`].
    Lobby(Redraw),
    /// The apply started: open the session's thread (the lobby's), post `announcement` there
    /// when there is one, and start an output batcher fed by the [`Update::Stream`]s that follow
    /// (the last one is [`BatchInput::SessionFinished`]). The thread then shows the session's
    /// log up to cursor `at`; feed the batcher with [`crate::batcher::spawn_tracked_batcher`]
    /// and record how far its posts got with a [`ThreadCursor`].
    ApplyStarted { announcement: Option<String>, at: i64 },
    /// The next input of the thread's batcher, from the event at cursor `at`.
    Stream { input: BatchInput, at: i64 },
    /// The session reached PLAN_READY: open the session's thread (the lobby's) if it has none
    /// yet, and post the plan there (with its file when the message holds only the head). The
    /// apply later streams into the same thread.
    PlanReady(crate::plan_post::PlanPost),
    /// A line for the session's thread, if it has one on this platform.
    Announce(String),
    /// The apply stopped before a provisional stack whose re-preview changed: the follow-up
    /// session (PLAN_READY, needing its own approval) gets a lobby beside this one.
    FollowUpOpened(SessionId),
}

impl Update {
    /// Whether an adapter posts something for it outside the thread's batcher (a line in the
    /// thread, the approval's announcement, a follow-up's lobby): not to be posted twice, so
    /// the adapter records how far it rendered right after.
    pub fn posts_outside_the_batcher(&self) -> bool {
        match self {
            Update::ApplyStarted { announcement, .. } => announcement.is_some(),
            Update::Announce(_) | Update::FollowUpOpened(_) | Update::PlanReady(_) => true,
            Update::Lobby(_) | Update::Stream { .. } => false,
        }
    }
}

/// An adapter's session task as [`render`] drives it: it renders each [`Update`] its way (a
/// lobby redraw is only asked for, to coalesce edits), and draws the lobby when asked to.
#[async_trait::async_trait]
pub trait SessionRender: Send {
    /// Renders one update in the adapter's way.
    async fn on_update(&mut self, update: Update);
    /// Draws the lobby now if a redraw was asked for; the session's state if it drew it.
    async fn redraw_if_asked(&mut self) -> Option<SessionState>;
    /// Records how far the lobby and the thread show the session's log
    /// ([`SessionFeed::save_cursor_behind`]).
    async fn save_cursor(&mut self);
    /// Whether nothing is left to draw: no thread batcher still takes inputs and no lobby
    /// redraw waits.
    fn idle(&self) -> bool;
}

/// Renders updates. When they posted in the thread outside its batcher (announcements, a
/// follow-up's lobby), the lobby is drawn at once and the cursor recorded, so that a successor
/// neither posts them again nor leaves the lobby behind. Returns whether the session's rendering
/// is over (the lobby drawn terminal, the thread's batcher done).
pub async fn render(task: &mut (impl SessionRender + ?Sized), updates: Vec<Update>) -> bool {
    let posts = updates.iter().any(Update::posts_outside_the_batcher);
    for update in updates {
        task.on_update(update).await;
    }
    if !posts {
        return false;
    }
    let state = task.redraw_if_asked().await;
    task.save_cursor().await;
    state.is_some_and(SessionState::is_terminal) && task.idle()
}

/// Hands an [`Update::Stream`]'s input to the session thread's batcher, if it has one; after the
/// session's last input ([`BatchInput::SessionFinished`]) the batcher is let go: it finishes the
/// thread on its own.
pub fn stream_into(
    batcher: &mut Option<tokio::sync::mpsc::UnboundedSender<(i64, BatchInput)>>,
    input: BatchInput,
    at: i64,
) {
    let finished = matches!(input, BatchInput::SessionFinished(_));
    if let Some(batcher) = batcher {
        let _ = batcher.send((at, input));
    }
    if finished {
        *batcher = None;
    }
}

/// Turns one session's events into [`Update`]s for an adapter whose people are on `audience`.
pub struct SessionFeed {
    core: Arc<Core>,
    session: SessionId,
    audience: Platform,
    /// The apply is being streamed (between [`Update::ApplyStarted`] and the summary).
    streaming: bool,
    /// Planned steps per stack: the progress bars' 100 %.
    planned: HashMap<StackName, u32>,
    approver: Option<Principal>,
    /// The last event of the session's log turned into updates; `None` until it was read from
    /// the lobby's record (the first [`SessionFeed::catch_up`]).
    cursor: Option<i64>,
    /// The cursor last recorded in `chat_lobbies` (saves only what moved).
    saved: i64,
}

impl SessionFeed {
    pub fn new(core: Arc<Core>, session: SessionId, audience: Platform) -> SessionFeed {
        SessionFeed {
            core,
            session,
            audience,
            streaming: false,
            planned: HashMap::new(),
            approver: None,
            cursor: None,
            saved: 0,
        }
    }

    /// The last event of the session's log turned into updates.
    pub fn cursor(&self) -> Option<i64> {
        self.cursor
    }

    /// Whether the apply is being streamed right now.
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// The updates one event of this session calls for. The event says there is more in the
    /// log: everything after this feed's cursor is read from the log and turned into updates in
    /// order (so an event seen twice, or one the router never saw, changes nothing).
    pub async fn on(&mut self, event: Event) -> Vec<Update> {
        if self.cursor.is_some_and(|c| event.cursor <= c) {
            return vec![];
        }
        self.catch_up().await
    }

    /// The updates for every event of the session's log after the last one rendered, from the
    /// cursor its lobby records (a restarted bot resumes where its predecessor stopped: a thread
    /// that was streaming an apply streams on and gets its summary).
    pub async fn catch_up(&mut self) -> Vec<Update> {
        let mut out = Vec::new();
        if self.cursor.is_none() {
            let cursor = self
                .core
                .store()
                .rendered_cursor(self.session, self.audience)
                .await
                .unwrap_or_else(|e| {
                    warn!(session = %self.session, error = %e, "cannot read how far the lobby is drawn");
                    0
                });
            self.saved = cursor;
            self.cursor = Some(cursor);
            if cursor > 0 && self.was_applying_at(cursor).await {
                for update in self.apply_started().await {
                    out.push(match update {
                        // Announced when the apply started, by whoever drew it then.
                        Update::ApplyStarted { at, .. } => Update::ApplyStarted { announcement: None, at },
                        other => other,
                    });
                }
            }
        }
        let mut log = EventFeed::session(self.core.store(), self.session, self.cursor.unwrap_or(0));
        loop {
            match log.try_next().await {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    for event in events {
                        self.cursor = Some(event.cursor);
                        out.extend(self.updates(event.kind).await);
                    }
                }
                Err(e) => {
                    warn!(session = %self.session, error = %e, "cannot read the session's event log");
                    break;
                }
            }
        }
        out
    }

    /// Records in `chat_lobbies` that the lobby shows the log up to the feed's cursor (call it
    /// after drawing the lobby). A restarted bot redraws lobbies whose record is behind.
    pub async fn save_cursor(&mut self) {
        self.save_cursor_upto(None).await
    }

    /// Records in `chat_lobbies` how far the lobby and the session's thread show the log: the
    /// feed's cursor, but no further than `thread` while a thread's batcher still has inputs to
    /// post ([`ThreadCursor::cap`]). Everything posted in the thread
    /// outside the batcher (announcements) is posted before this is called.
    /// [`SessionFeed::save_cursor_upto`] no further than `thread` shows the log while its
    /// batcher is busy: how far the lobby and the thread show the session's log.
    pub async fn save_cursor_behind(&mut self, thread: Option<&ThreadCursor>) {
        let upto = ThreadCursor::cap(thread, self.cursor());
        self.save_cursor_upto(upto).await
    }

    pub async fn save_cursor_upto(&mut self, thread: Option<i64>) {
        let Some(cursor) = self.cursor else { return };
        let cursor = thread.map_or(cursor, |t| cursor.min(t));
        if cursor <= self.saved {
            return;
        }
        match self
            .core
            .store()
            .set_rendered_cursor(self.session, self.audience, cursor)
            .await
        {
            Ok(()) => self.saved = cursor,
            Err(e) => warn!(session = %self.session, error = %e, "cannot record how far the lobby is drawn"),
        }
    }

    /// The update feeding `input`, from the event being read, to the thread's batcher.
    fn stream(&self, input: BatchInput) -> Update {
        Update::Stream {
            input,
            at: self.cursor.unwrap_or(0),
        }
    }

    /// Whether the session was applying (and not yet ended) at `cursor`: the last state change
    /// at or before it went to APPLYING.
    async fn was_applying_at(&mut self, cursor: i64) -> bool {
        let mut log = EventFeed::session(self.core.store(), self.session, 0);
        let mut applying = false;
        while log.cursor() < cursor {
            let events = match log.try_next().await {
                Ok(events) if !events.is_empty() => events,
                _ => break,
            };
            for event in events.into_iter().take_while(|e| e.cursor <= cursor) {
                match event.kind {
                    SessionEventKind::StateChanged { to, .. } => applying = to == SessionState::Applying,
                    SessionEventKind::Approved { by } => self.approver = Some(by),
                    _ => {}
                }
            }
        }
        applying
    }

    /// The updates one logged event calls for.
    async fn updates(&mut self, kind: SessionEventKind) -> Vec<Update> {
        match kind {
            SessionEventKind::Created | SessionEventKind::Queued { .. } | SessionEventKind::LocksGranted => {
                vec![Update::Lobby(Redraw::Now)]
            }
            SessionEventKind::Approved { by } => {
                self.approver = Some(by);
                vec![Update::Lobby(Redraw::Now)]
            }
            SessionEventKind::StateChanged { to, .. } => {
                let mut out = vec![Update::Lobby(Redraw::Now)];
                if to == SessionState::PlanReady {
                    out.extend(self.plan_ready().await);
                } else if to == SessionState::Applying {
                    out.extend(self.apply_started().await);
                } else if to.is_terminal() {
                    out.extend(self.finished().await);
                }
                out
            }
            SessionEventKind::StackStateChanged { stack, state, .. } => {
                let mut out = vec![Update::Lobby(Redraw::Soon)];
                if self.streaming {
                    if let Some(event) = self.stack_event(&stack, state).await {
                        out.push(self.stream(BatchInput::stack(&stack, event)));
                    }
                }
                out
            }
            SessionEventKind::Progress { stack, progress } if self.streaming => {
                vec![self.stream(BatchInput::stack(&stack, StackEvent::Progress(progress)))]
            }
            SessionEventKind::Progress { .. } => vec![],
            SessionEventKind::Output { stack, items } if self.streaming => items
                .into_iter()
                .map(|p| self.stream(BatchInput::stack(&stack, StackEvent::Progress(p))))
                .collect(),
            SessionEventKind::Output { .. } => vec![],
            SessionEventKind::Shutdown { reason } => vec![Update::Announce(format!("⏹️ {reason}"))],
            SessionEventKind::CancelRequested { by, reason } => vec![Update::Announce(format!(
                "🛑 {} asked to cancel the apply ({reason}); running steps finish, then it stops.",
                view::who(&by, self.audience)
            ))],
            SessionEventKind::FollowUpOpened { follow_up } => vec![
                Update::Lobby(Redraw::Now),
                Update::Announce(format!(
                    "↪️ A provisional stack's re-preview changed: the remaining stacks continue in follow-up session `{}`, which needs its own approval (`/cloud-status {}`).",
                    follow_up.short(),
                    follow_up.short()
                )),
                Update::FollowUpOpened(follow_up),
            ],
            SessionEventKind::Recovered { from, to, stacks } => {
                let truth: Vec<String> = stacks.iter().map(|(stack, what)| format!("{stack}: {what}")).collect();
                let mut out = vec![
                    Update::Lobby(Redraw::Now),
                    Update::Announce(format!(
                        "The process driving this session died while it was {from}; on restart it was reconciled and is now {to}. Per stack: {}",
                        truth.join(", ")
                    )),
                ];
                if self.streaming {
                    out.extend(self.finished().await);
                }
                out
            }
        }
    }

    /// The plan for the thread, within this platform's message budget.
    async fn plan_ready(&mut self) -> Vec<Update> {
        let view = match self.core.orchestrator().status(self.session).await {
            Ok(v) => v,
            Err(e) => {
                warn!(session = %self.session, error = %e.to_user(), "cannot read the session whose plan is ready");
                return vec![];
            }
        };
        let Some(plan) = &view.session.plan else { return vec![] };
        let budget = match self.audience {
            Platform::Slack => crate::batcher::SinkLimits::slack().max_message_chars,
            Platform::Discord | Platform::Cli => crate::batcher::SinkLimits::discord().max_message_chars,
        };
        vec![Update::PlanReady(crate::plan_post::plan_post(
            self.session,
            plan,
            budget,
        ))]
    }

    async fn apply_started(&mut self) -> Vec<Update> {
        if self.streaming {
            return vec![];
        }
        let view = match self.core.orchestrator().status(self.session).await {
            Ok(v) => v,
            Err(e) => {
                warn!(session = %self.session, error = %e.to_user(), "cannot read the session that started applying");
                return vec![];
            }
        };
        if let Some(plan) = &view.session.plan {
            self.planned = plan
                .stacks
                .iter()
                .map(|e| (e.stack.clone(), e.preview.steps.len() as u32))
                .collect();
        }
        let approver = self
            .approver
            .clone()
            .or_else(|| view.approvals.last().map(|a| a.approver.clone()));
        self.streaming = true;
        vec![Update::ApplyStarted {
            at: self.cursor.unwrap_or(0),
            announcement: approver.map(|by| view::approved_announcement(&view::who(&by, self.audience), self.session)),
        }]
    }

    async fn stack_event(&self, stack: &StackName, state: StackState) -> Option<StackEvent> {
        match state {
            StackState::Applying => Some(StackEvent::Started {
                planned_steps: self.planned.get(stack).copied().unwrap_or(0),
            }),
            StackState::Applied | StackState::Failed | StackState::Skipped => {
                let row = self
                    .core
                    .store()
                    .session_stacks(self.session)
                    .await
                    .ok()
                    .and_then(|rows| rows.into_iter().find(|r| &r.stack == stack));
                let result = match state {
                    StackState::Applied => StackResult::Applied,
                    // The orchestrator records a stack stopped by a cancel as failed, "cancelled".
                    StackState::Failed
                        if row.as_ref().and_then(|r| r.error.as_deref()) == Some(view::CANCELLED_STACK_ERROR) =>
                    {
                        StackResult::Cancelled
                    }
                    StackState::Failed => StackResult::Failed,
                    _ => StackResult::Skipped,
                };
                // Only an applied stack's counts are the engine's totals; a stopped one still
                // holds its preview's, which it did not carry out: the batcher says how far it got.
                let counts = match result {
                    StackResult::Applied => row.map(|r| r.counts).unwrap_or_default(),
                    StackResult::Failed | StackResult::Cancelled | StackResult::Skipped => Default::default(),
                };
                Some(StackEvent::Finished { result, counts })
            }
            StackState::Pending | StackState::Previewing | StackState::Previewed => None,
        }
    }

    /// The session ended: the batcher posts the summary; a session cancelled before it applied
    /// gets its headline in the thread, if it has one.
    async fn finished(&mut self) -> Vec<Update> {
        let summary = match self.core.orchestrator().status(self.session).await {
            Ok(view) => SummaryView::new(&view),
            Err(e) => {
                warn!(session = %self.session, error = %e.to_user(), "cannot read the session that ended");
                if !self.streaming {
                    return vec![];
                }
                self.streaming = false;
                return vec![self.stream(BatchInput::SessionFinished(SessionSummary {
                    outcome: SessionOutcome::Failed,
                    headline: format!("session {} ended", self.session.short()),
                    details: vec![],
                }))];
            }
        };
        if self.streaming {
            self.streaming = false;
            return vec![self.stream(BatchInput::SessionFinished(summary.to_batcher_summary()))];
        }
        if summary.state == SessionState::Cancelled {
            return vec![Update::Announce(summary.headline)];
        }
        vec![]
    }
}

/// The lobby of a session as it is now: its state, plan, cost and quota, approvals, buttons,
/// the stack picker's options, and which of its stacks other sessions hold.
pub async fn lobby(core: &Core, id: SessionId) -> Result<LobbyView, Reply> {
    let view = core
        .orchestrator()
        .status(id)
        .await
        .map_err(crate::refusal::from_orch)?;
    let s = &view.session;
    let mut extras = LobbyExtras {
        available_stacks: core.available_stacks(&s.project, &s.env),
        ..Default::default()
    };
    // A DRAFT session without locks and not queued waits because others hold its stacks.
    if s.state == SessionState::Draft && view.locks.is_empty() && view.queue.is_none() {
        let blockers = core.store().lock_blockers(s.id).await.unwrap_or_default();
        for stack in &s.stacks {
            let needle = format!("-{stack}-");
            if let Some(h) = blockers.iter().find(|h| h.stack.contains(&needle)) {
                extras.busy.push(BusyStack {
                    stack: stack.clone(),
                    held_by: h.session,
                });
            }
        }
    }
    // A queued session: whom it waits for (its lobby names them, with its position).
    if s.state == SessionState::Draft && view.queue.is_some() {
        let blockers = core.store().lock_blockers(s.id).await.unwrap_or_default();
        for h in blockers {
            if !extras.waiting_for.iter().any(|w| w.session == h.session) {
                extras.waiting_for.push(view::WaitingFor {
                    session: h.session,
                    requester: h.requester,
                    queued: h.queued,
                });
            }
        }
    }
    Ok(LobbyView::new(&view, &extras))
}

/// Every line the engine printed for the session (the store keeps even the ones the event
/// broadcast dropped under load), or `fallback` when the store holds fewer.
pub async fn full_log(core: &Core, id: SessionId, fallback: String) -> String {
    match core.store().logs(id, 0).await {
        Ok(lines) if lines.len() > fallback.lines().count() => {
            let mut text = String::with_capacity(lines.len() * 64);
            for l in &lines {
                text.push_str(&format!("[{}] {}\n", l.stack, l.line));
            }
            text
        }
        _ => fallback,
    }
}

/// Records where a session's lobby lives on a platform.
/// The lobby was just drawn from the session as it is, so it shows the session's log up to
/// now: its rendered cursor starts there (a catch-up does not replay the session's history).
pub async fn save_lobby(core: &Core, row: &LobbyRow) {
    let store = core.store();
    let result = async {
        let drawn_at = store.last_event_id().await?;
        store.save_lobby(row).await?;
        store.set_rendered_cursor(row.session_id, row.platform, drawn_at).await
    };
    if let Err(e) = result.await {
        warn!(session = %row.session_id, error = %e, "cannot record the lobby");
    }
}

/// Where a session's lobby lives on `platform`, if it has one there.
pub async fn lobby_row(core: &Core, id: SessionId, platform: Platform) -> Option<LobbyRow> {
    match core.store().lobby(id, platform).await {
        Ok(row) => row,
        Err(e) => {
            warn!(session = %id, error = %e, "cannot read where the lobby is");
            None
        }
    }
}

/// How far a session's thread shows the session's log while its batcher posts: shared by the
/// adapter's session task (whose record of the lobby may not claim more than the thread shows,
/// [`SessionFeed::save_cursor_upto`]) and the task posting the batcher's ops, which records it
/// after the ops before each [`crate::batcher::ThreadOp::Shows`] are done. A process taking the
/// thread over — a replica after a crash, a restarted bot — then posts only what comes after.
pub struct ThreadCursor {
    /// (how far the thread shows, the batcher still has posts to make, how far the lobby's
    /// record would go without the thread).
    state: std::sync::Mutex<(i64, bool, i64)>,
}

impl ThreadCursor {
    /// A thread that shows the log up to `at` ([`Update::ApplyStarted`]).
    pub fn new(at: i64) -> ThreadCursor {
        ThreadCursor {
            state: std::sync::Mutex::new((at, true, at)),
        }
    }

    /// The thread shows the log up to `cursor`: recorded in `chat_lobbies`.
    pub async fn record(&self, core: &Core, session: SessionId, platform: Platform, cursor: i64) {
        {
            let mut state = self.state.lock().expect("thread cursor lock");
            state.0 = state.0.max(cursor);
        }
        if let Err(e) = core.store().set_rendered_cursor(session, platform, cursor).await {
            warn!(session = %session, error = %e, "cannot record how far the thread is drawn");
        }
    }

    /// The batcher posted its last op (the summary): records what the lobby's record waited for
    /// (events after the summary's, such as a takeover report posted before it).
    pub async fn close(&self, core: &Core, session: SessionId, platform: Platform) {
        let target = {
            let mut state = self.state.lock().expect("thread cursor lock");
            state.1 = false;
            state.0.max(state.2)
        };
        if let Err(e) = core.store().set_rendered_cursor(session, platform, target).await {
            warn!(session = %session, error = %e, "cannot record how far the thread is drawn");
        }
    }

    /// The cursor a lobby's record wanting `wanted` may not pass while `thread` still has posts
    /// to make (the thread records `wanted` itself once it made them).
    pub fn cap(thread: Option<&ThreadCursor>, wanted: Option<i64>) -> Option<i64> {
        let thread = thread?;
        let mut state = thread.state.lock().expect("thread cursor lock");
        if !state.1 {
            return None;
        }
        if let Some(wanted) = wanted {
            state.2 = state.2.max(wanted);
        }
        Some(state.0)
    }
}

/// Records the thread a lobby got.
pub async fn set_lobby_thread(core: &Core, id: SessionId, platform: Platform, thread: &str) {
    if let Err(e) = core.store().set_lobby_thread(id, platform, thread).await {
        warn!(session = %id, error = %e, "cannot record the thread");
    }
}
