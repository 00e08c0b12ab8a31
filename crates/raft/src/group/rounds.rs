//! Shared rounds of a read barrier: callers that ask while a round is running share the next
//! one, so N concurrent reads cost one majority round trip each round, not N.
//!
//! A read barrier's answer is valid for every caller that asked *before its round started*:
//! the leader then confirms with a majority that it was still the leader after all of those
//! calls began, and reads the commit index from that moment on. So a caller never takes the
//! answer of a round that was already running when it asked: it waits for the next, which
//! starts when the running one ends. At most one round runs at a time, and no caller waits
//! for more than two.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// One round of the operation.
pub(crate) type Round<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// An operation whose rounds answer every caller that asked before they started.
pub(crate) struct Rounds<T> {
    op: Box<dyn Fn() -> Round<T> + Send + Sync>,
    state: Mutex<State>,
    /// The latest round to finish, and what it answered.
    done: watch::Sender<Option<(u64, T)>>,
}

#[derive(Default)]
struct State {
    /// Rounds started so far (the number of the latest).
    started: u64,
    /// A round is running.
    running: bool,
    /// A caller is waiting for a round after the running one.
    wanted: bool,
}

impl<T: Clone + Send + Sync + 'static> Rounds<T> {
    /// Rounds of `op`.
    pub(crate) fn new(op: impl Fn() -> Round<T> + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self { op: Box::new(op), state: Mutex::new(State::default()), done: watch::channel(None).0 })
    }

    /// The answer of a round that started after this call, or `None` when none ended within
    /// `wait`. Rounds run on a task of their own: a caller that gives up stops none of them.
    pub(crate) async fn join(self: &Arc<Self>, wait: Duration) -> Option<T> {
        let deadline = Instant::now() + wait;
        let mut rx = self.done.subscribe();
        let want = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if s.running {
                s.wanted = true;
                s.started + 1
            } else {
                s.running = true;
                s.started += 1;
                self.run_from(s.started);
                s.started
            }
        };
        loop {
            if let Some((n, answer)) = &*rx.borrow_and_update() {
                if *n >= want {
                    return Some(answer.clone());
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// The answer of the latest round to end, whenever it started (for what a caller that
    /// gave up is told).
    pub(crate) fn last(&self) -> Option<T> {
        self.done.borrow().as_ref().map(|(_, answer)| answer.clone())
    }

    /// Run round `first`, then one more for as long as callers came during the last.
    fn run_from(self: &Arc<Self>, first: u64) {
        let me = self.clone();
        tokio::spawn(async move {
            // A round that panics, or a task dropped with its runtime, must not leave the
            // rounds `running` for ever: the next caller starts a new one.
            let mut ended = Ended { rounds: &me, cleanly: false };
            let mut round = first;
            loop {
                let answer = (ended.rounds.op)().await;
                let mut s = ended.rounds.state.lock().unwrap_or_else(PoisonError::into_inner);
                ended.rounds.done.send_replace(Some((round, answer)));
                if !s.wanted {
                    s.running = false;
                    ended.cleanly = true;
                    return;
                }
                s.wanted = false;
                s.started += 1;
                round = s.started;
            }
        });
    }
}

/// Frees the rounds when their task ends other than by running out of callers.
struct Ended<'a, T> {
    rounds: &'a Rounds<T>,
    cleanly: bool,
}

impl<T> Drop for Ended<'_, T> {
    fn drop(&mut self) {
        if !self.cleanly {
            let mut s = self.rounds.state.lock().unwrap_or_else(PoisonError::into_inner);
            s.running = false;
            s.wanted = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Rounds that each take `ms` and answer how many rounds had started when they began.
    fn counting(ms: u64) -> (Arc<Rounds<u64>>, Arc<AtomicU64>) {
        let began = Arc::new(AtomicU64::new(0));
        let b = began.clone();
        let rounds = Rounds::new(move || {
            let b = b.clone();
            Box::pin(async move {
                let n = b.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                n
            })
        });
        (rounds, began)
    }

    #[tokio::test]
    async fn concurrent_callers_share_rounds_and_none_takes_a_round_that_began_before_it() {
        let (rounds, began) = counting(50);
        // The first caller starts round 1.
        let r = rounds.clone();
        let first = tokio::spawn(async move { r.join(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Twenty callers arrive while round 1 runs: all of them need round 2, and share it.
        let mut late = Vec::new();
        for _ in 0..20 {
            let r = rounds.clone();
            late.push(tokio::spawn(async move { r.join(Duration::from_secs(5)).await }));
        }
        assert_eq!(first.await.expect("task"), Some(1));
        for t in late {
            assert_eq!(t.await.expect("task"), Some(2), "a caller that came during round 1 is answered by round 2");
        }
        assert_eq!(began.load(Ordering::SeqCst), 2, "21 callers, 2 rounds");
        // Once idle, the next caller starts a round of its own.
        assert_eq!(rounds.join(Duration::from_secs(5)).await, Some(3));
    }

    #[tokio::test]
    async fn a_round_that_panics_does_not_stop_the_rounds_after_it() {
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let rounds: Arc<Rounds<u64>> = Rounds::new(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                assert!(n != 1, "the first round dies");
                n
            })
        });
        assert_eq!(rounds.join(Duration::from_millis(200)).await, None, "round 1 panicked: no answer");
        assert_eq!(rounds.join(Duration::from_secs(5)).await, Some(2), "the next caller starts a round of its own");
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_the_rounds_running_for_the_rest() {
        let (rounds, _) = counting(100);
        assert_eq!(rounds.join(Duration::from_millis(10)).await, None, "gave up before round 1 ended");
        // Round 1 still ends and frees the rounds: a later caller is answered by round 2.
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(rounds.join(Duration::from_secs(5)).await, Some(2));
    }
}
