//! The one rate limit of the background workers: a token bucket of bytes per second
//! (repair, drain, scrub and rebalance each hold one).

use std::time::Duration;

/// A token-bucket limit on bytes per second, shared by the tasks of one worker.
#[derive(Debug)]
pub struct Limiter {
    rate: u64,
    next: parking_lot::Mutex<tokio::time::Instant>,
}

impl Limiter {
    /// `rate` bytes per second; 0 is no limit.
    pub fn new(rate: u64) -> Self {
        Self { rate, next: parking_lot::Mutex::new(tokio::time::Instant::now()) }
    }

    /// Wait until `bytes` more may be moved.
    pub async fn take(&self, bytes: u64) {
        if self.rate == 0 {
            return;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.rate as f64);
        let at = {
            let mut next = self.next.lock();
            let now = tokio::time::Instant::now();
            let start = (*next).max(now);
            *next = start + cost;
            start
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_work_at_its_rate() {
        let l = Limiter::new(1 << 20);
        let t0 = tokio::time::Instant::now();
        for _ in 0..4 {
            l.take(512 * 1024).await;
        }
        // 4 × 0.5 MiB at 1 MiB/s: the first goes at once, the last after 1.5 s.
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(1400) && waited <= Duration::from_millis(1600), "{waited:?}");
        let free = Limiter::new(0);
        let t1 = tokio::time::Instant::now();
        free.take(u64::MAX).await;
        assert_eq!(t1.elapsed(), Duration::ZERO);
    }
}
