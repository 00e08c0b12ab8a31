//! Shared rounds of a read barrier: callers that ask while a round is running share the next
//! one, so N concurrent reads cost one majority round trip each round, not N.
//!
//! A read barrier's answer is valid for every caller that asked *before its round started*:
//! the leader then confirms with a majority that it was still the leader after all of those
//! calls began, and reads the commit index from that moment on. So a caller never takes the
//! answer of a round that was already running when it asked: it waits for the next, which
//! starts when the running one ends. At most one round runs at a time, and no caller waits
//! for more than two.
//!
//! A caller that needs only what was committed before an earlier moment (the start of the S3
//! request its reads serve: [`Rounds::join_since`]) takes any round that began after it — the
//! latest finished one at once if it succeeded, or the one running — so a request's second
//! and later reads cost no round of their own. Those moments are read from the system's
//! monotonic clock (`std::time::Instant`), never tokio's, which a test may pause or advance.

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
    /// The latest round to finish, when it began, and what it answered.
    done: watch::Sender<Option<(u64, std::time::Instant, T)>>,
}

#[derive(Default)]
struct State {
    /// Rounds started so far (the number of the latest).
    started: u64,
    /// A round is running.
    running: bool,
    /// A caller is waiting for a round after the running one.
    wanted: bool,
    /// When the running round began (before its operation was started).
    began: Option<std::time::Instant>,
}

impl<T: Clone + Send + Sync + 'static> Rounds<T> {
    /// Rounds of `op`.
    pub(crate) fn new(op: impl Fn() -> Round<T> + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self { op: Box::new(op), state: Mutex::new(State::default()), done: watch::channel(None).0 })
    }

    /// The answer of a round that started after this call, or `None` when none ended within
    /// `wait`. Rounds run on a task of their own: a caller that gives up stops none of them.
    pub(crate) async fn join(self: &Arc<Self>, wait: Duration) -> Option<T> {
        // No round began after now: not the running one, and no finished one either.
        self.join_since(std::time::Instant::now(), |_| false, wait).await
    }

    /// The answer of a round that began after `since` (which must not be later than this
    /// call), or `None` when none ended within `wait`: the latest finished round if it began
    /// then and its answer may be `reused` (a failure is not: a new round may succeed), else
    /// the running one if it began then, else the next.
    pub(crate) async fn join_since(self: &Arc<Self>, since: std::time::Instant, reused: impl Fn(&T) -> bool, wait: Duration) -> Option<T> {
        let deadline = Instant::now() + wait;
        let rx = self.done.subscribe();
        let want = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, began, answer)) = &*self.done.borrow() {
                if *began > since && reused(answer) {
                    return Some(answer.clone());
                }
            }
            match (s.running, s.began) {
                (true, Some(began)) if began > since => s.started,
                (true, _) => {
                    s.wanted = true;
                    s.started + 1
                }
                (false, _) => self.start(&mut s),
            }
        };
        self.wait_for(want, rx, deadline).await
    }

    /// The answer of round `want` or a later one, once it ends before `deadline`.
    async fn wait_for(&self, want: u64, mut rx: watch::Receiver<Option<(u64, std::time::Instant, T)>>, deadline: Instant) -> Option<T> {
        loop {
            if let Some((n, _, answer)) = &*rx.borrow_and_update() {
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

    /// Start a round now (none is running); its number.
    fn start(self: &Arc<Self>, s: &mut State) -> u64 {
        s.running = true;
        s.started += 1;
        let began = std::time::Instant::now();
        s.began = Some(began);
        self.run_from(s.started, began);
        s.started
    }

    /// The answer of the latest round to end, whenever it started (for what a caller that
    /// gave up is told).
    pub(crate) fn last(&self) -> Option<T> {
        self.done.borrow().as_ref().map(|(_, _, answer)| answer.clone())
    }

    /// Run round `first` (begun at `began`), then one more for as long as callers came during
    /// the last.
    fn run_from(self: &Arc<Self>, first: u64, began: std::time::Instant) {
        let me = self.clone();
        tokio::spawn(async move {
            // A round that panics, or a task dropped with its runtime, must not leave the
            // rounds `running` for ever: the next caller starts a new one.
            let mut ended = Ended { rounds: &me, cleanly: false };
            let (mut round, mut began) = (first, began);
            loop {
                let answer = (ended.rounds.op)().await;
                let mut s = ended.rounds.state.lock().unwrap_or_else(PoisonError::into_inner);
                ended.rounds.done.send_replace(Some((round, began, answer)));
                if !s.wanted {
                    s.running = false;
                    s.began = None;
                    ended.cleanly = true;
                    return;
                }
                s.wanted = false;
                s.started += 1;
                round = s.started;
                began = std::time::Instant::now();
                s.began = Some(began);
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
            s.began = None;
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
    async fn a_caller_as_of_an_earlier_moment_takes_any_round_that_began_since() {
        let (rounds, began) = counting(50);
        let since = std::time::Instant::now();
        // Round 1 begins after `since`: a caller as of `since` joins it while it runs…
        let r = rounds.clone();
        let first = tokio::spawn(async move { r.join(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(rounds.join_since(since, |_| true, Duration::from_secs(5)).await, Some(1), "the running round began after `since`");
        assert_eq!(first.await.expect("task"), Some(1));
        // …and, once it ended, is answered by it at once, with no round of its own.
        assert_eq!(rounds.join_since(since, |_| true, Duration::from_secs(5)).await, Some(1));
        assert_eq!(began.load(Ordering::SeqCst), 1, "no second round");
        // A caller as of a moment after round 1 began needs a round of its own: the next.
        let later = std::time::Instant::now();
        assert_eq!(rounds.join_since(later, |_| true, Duration::from_secs(5)).await, Some(2));
        // While round 3 runs, a caller as of a moment before it began joins it; one as of a
        // moment after waits for round 4.
        let before3 = std::time::Instant::now();
        let r = rounds.clone();
        let third = tokio::spawn(async move { r.join(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let after3 = std::time::Instant::now();
        let r = rounds.clone();
        let fourth = tokio::spawn(async move { r.join_since(after3, |_| true, Duration::from_secs(5)).await });
        assert_eq!(rounds.join_since(before3, |_| true, Duration::from_secs(5)).await, Some(3));
        assert_eq!(third.await.expect("task"), Some(3));
        assert_eq!(fourth.await.expect("task"), Some(4), "round 3 began before the caller's moment");
        assert_eq!(began.load(Ordering::SeqCst), 4);
        // A finished round whose answer may not be reused (a failure) is not taken: a new one runs.
        let since = std::time::Instant::now();
        assert_eq!(rounds.join_since(since, |_| true, Duration::from_secs(5)).await, Some(5));
        assert_eq!(rounds.join_since(since, |n| *n != 5, Duration::from_secs(5)).await, Some(6));
        assert_eq!(began.load(Ordering::SeqCst), 6);
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
