//! Two people act on one session at the same moment. Exactly one wins; the other reads one
//! sentence saying what the session became and because of whom — the sentence every front end
//! shows (`cloud_core::orchestrator::lost_race_message`), never a raw transition error.
//!
//! Each race starts both requests behind a barrier, on two orchestrators over the same database
//! file (two processes, nothing shared in memory), and is run several times so that both ways of
//! losing happen: arriving after the winner committed, and losing the store's compare-and-set.

use std::sync::Arc;

use cloud_core::orchestrator::{Orchestrator, OrchestratorError};
use cloud_core::store::{SessionRecord, Store};
use cloud_domain::error::{ExitCode, UserError};
use cloud_domain::error_code::ErrorCode;
use cloud_domain::session::{Principal, SessionState};
use cloud_testkit::fake_engine::{creates, world, FakeEngine, World};
use tokio::sync::Barrier;

const ROUNDS: usize = 8;

fn alice() -> Principal {
    Principal::cli("alice")
}
fn bob() -> Principal {
    Principal::cli("bob")
}
fn carol() -> Principal {
    Principal::cli("carol")
}

async fn two_processes() -> (World, Arc<Orchestrator>) {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let other = w.orchestrator_on(Store::open(&w.store_url()).await.unwrap());
    (w, other)
}

/// Alice's session on `env`, planned and waiting for approval.
async fn ready_plan(w: &World, env: &str) -> SessionRecord {
    let s = w
        .orch
        .start_session(&alice(), "ecommerce", env, Some(&["network".parse().unwrap()]))
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
    s
}

type Racer<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

fn racer<T>(f: impl std::future::Future<Output = T> + Send + 'static) -> Racer<T> {
    Box::pin(f)
}

/// Runs the futures together once all of them are at the start line.
async fn at_once<T: Send + 'static>(racers: Vec<Racer<T>>) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(racers.len()));
    let handles: Vec<_> = racers
        .into_iter()
        .map(|racer| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                racer.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

fn refusal(e: OrchestratorError) -> UserError {
    let user = e.to_user();
    assert_eq!(user.code, ExitCode::Invalid, "{}", user.message);
    assert_eq!(user.error_code(), ErrorCode::SessionChanged, "{}", user.message);
    user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_click_at_once_one_wins_and_the_other_is_told_who() {
    let (w, other) = two_processes().await;
    for _ in 0..ROUNDS {
        let s = ready_plan(&w, "stage").await;
        let digest = s.digest.clone().unwrap().0;
        let (id, d1, d2) = (s.id, digest.clone(), digest);
        let (o1, o2) = (Arc::clone(&w.orch), Arc::clone(&other));
        let answers = at_once(vec![
            racer(async move { (bob(), o1.approve(id, &bob(), &d1).await) }),
            racer(async move { (carol(), o2.approve(id, &carol(), &d2).await) }),
        ])
        .await;

        let winners: Vec<&Principal> = answers.iter().filter(|(_, r)| r.is_ok()).map(|(p, _)| p).collect();
        assert_eq!(winners.len(), 1, "exactly one approval wins: {answers:?}");
        let winner = winners[0].clone();
        let (_, lost) = answers.into_iter().find(|(_, r)| r.is_err()).unwrap();
        let told = refusal(lost.unwrap_err());
        assert_eq!(
            told.message,
            format!(
                "session {} was already approved by {winner} and is APPROVED; nothing left to approve",
                id.short()
            )
        );
        let approvals = w.orch.store().approvals(id).await.unwrap();
        assert_eq!(
            approvals.len(),
            1,
            "the loser's approval is not recorded: {approvals:?}"
        );
        assert_eq!(approvals[0].approver, winner);
        w.orch.cancel(id, &alice(), "next round").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_approvals_count_in_prod_and_the_third_is_told_by_whom() {
    let (w, other) = two_processes().await;
    let dave = Principal::cli("dave");
    for _ in 0..ROUNDS {
        let s = ready_plan(&w, "prod").await;
        let digest = s.digest.clone().unwrap().0;
        let id = s.id;
        let racers: Vec<Racer<(Principal, Result<SessionRecord, OrchestratorError>)>> = [
            (bob(), Arc::clone(&w.orch)),
            (carol(), Arc::clone(&other)),
            (dave.clone(), Arc::clone(&w.orch)),
        ]
        .into_iter()
        .map(|(who, orch)| {
            let digest = digest.clone();
            racer(async move { (who.clone(), orch.approve(id, &who, &digest).await) }) as _
        })
        .collect();
        let answers = at_once(racers).await;

        let mut winners: Vec<Principal> = answers
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(p, _)| p.clone())
            .collect();
        assert_eq!(
            winners.len(),
            2,
            "prod needs two approvals, and gets exactly two: {answers:?}"
        );
        assert_eq!(w.orch.store().session(id).await.unwrap().state, SessionState::Approved);
        let (_, lost) = answers.into_iter().find(|(_, r)| r.is_err()).unwrap();
        let told = refusal(lost.unwrap_err()).message;
        // Approvals are named in the order they were recorded.
        let recorded: Vec<Principal> = w
            .orch
            .store()
            .approvals(id)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.approver)
            .collect();
        winners.sort_by_key(|p| recorded.iter().position(|r| r == p));
        assert_eq!(recorded, winners);
        assert_eq!(
            told,
            format!(
                "session {} was already approved by {}, {} and is APPROVED; nothing left to approve",
                id.short(),
                winners[0],
                winners[1]
            )
        );
        w.orch.cancel(id, &alice(), "next round").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_racing_a_cancel_never_leaves_a_cancelled_session_approved() {
    let (w, other) = two_processes().await;
    for _ in 0..ROUNDS {
        let s = ready_plan(&w, "stage").await;
        let digest = s.digest.clone().unwrap().0;
        let id = s.id;
        let (o1, o2) = (Arc::clone(&w.orch), Arc::clone(&other));
        let answers = at_once(vec![
            racer(async move { o1.approve(id, &bob(), &digest).await }),
            racer(async move { o2.cancel(id, &alice(), "wrong window").await }),
        ])
        .await;
        let mut answers = answers.into_iter();
        let (approved, cancelled) = (answers.next().unwrap(), answers.next().unwrap());

        // The cancel always succeeds: before the approval, or after it (an approved session can
        // still be cancelled). The approval loses only to a cancel that came first.
        let cancelled = cancelled.expect("the cancel is never refused");
        let now = w.orch.store().session(id).await.unwrap();
        assert_eq!(now.state, SessionState::Cancelled, "{cancelled:?}");
        if let Err(e) = approved {
            assert_eq!(
                refusal(e).message,
                format!(
                    "session {} is CANCELLED (cancelled by {}: wrong window); nothing left to approve",
                    id.short(),
                    alice()
                )
            );
            assert!(w.orch.store().approvals(id).await.unwrap().is_empty());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cancels_at_once_one_cancels_and_the_other_is_told_by_whom() {
    let (w, other) = two_processes().await;
    for _ in 0..ROUNDS {
        let s = ready_plan(&w, "stage").await;
        let id = s.id;
        let (o1, o2) = (Arc::clone(&w.orch), Arc::clone(&other));
        let answers = at_once(vec![
            racer(async move { (alice(), o1.cancel(id, &alice(), "mine").await) }),
            racer(async move { (bob(), o2.cancel(id, &bob(), "theirs").await) }),
        ])
        .await;
        let winners: Vec<_> = answers.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "{answers:?}");
        let s = w.orch.store().session(id).await.unwrap();
        let (_, lost) = answers.into_iter().find(|(_, r)| r.is_err()).unwrap();
        assert_eq!(
            refusal(lost.unwrap_err()).message,
            format!(
                "session {} is CANCELLED ({}); nothing left to cancel",
                id.short(),
                s.reason.as_deref().unwrap()
            )
        );
        assert!(
            s.reason.as_deref().unwrap().starts_with("cancelled by "),
            "{:?}",
            s.reason
        );
    }
}
