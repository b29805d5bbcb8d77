//! What a listener's accept loop does when `accept` fails. Out of file
//! descriptors (EMFILE, ENFILE) or memory, the next accept fails the same way
//! at once: retried without a pause, a worker spins at full CPU and starves
//! the connections it serves. So each failure is counted
//! (`sluice_accept_errors_total`), logged at most once a few seconds, and
//! followed by a pause that doubles from 5 ms to 1 s and resets on the next
//! success, as Go's `net/http` does (nginx stops accepting for 500 ms).

use crate::metrics::METRICS;
use std::io;
use tokio::time::{Duration, Instant};

const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// A listener logs an accept failure at most this often; the rest are counted.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// One accept loop's failures in a row.
pub(crate) struct AcceptBackoff {
    listener: String,
    /// The pause after the last failure; zero after a success.
    pause: Duration,
    logged: Option<Instant>,
    /// Failures since the last log line.
    unlogged: u64,
}

impl AcceptBackoff {
    pub(crate) fn new(listener: &str) -> Self {
        Self { listener: listener.to_owned(), pause: Duration::ZERO, logged: None, unlogged: 0 }
    }

    /// Calls `accept` until it succeeds, pausing after each failure.
    pub(crate) async fn accept<T, F, Fut>(&mut self, mut accept: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = io::Result<T>>,
    {
        loop {
            match accept().await {
                Ok(accepted) => {
                    self.pause = Duration::ZERO;
                    return accepted;
                }
                Err(e) => tokio::time::sleep(self.failed(&e)).await,
            }
        }
    }

    /// Counts and logs a failure; the pause before the next attempt.
    fn failed(&mut self, e: &io::Error) -> Duration {
        METRICS.accept_errors.with_label_values(&[self.listener.as_str(), reason(e)]).inc();
        self.pause = if self.pause.is_zero() { FIRST_PAUSE } else { (self.pause * 2).min(MAX_PAUSE) };
        self.unlogged += 1;
        let now = Instant::now();
        if self.logged.is_none_or(|at| now.duration_since(at) >= LOG_EVERY) {
            tracing::warn!(
                listener = %self.listener,
                error = %e,
                failures = self.unlogged,
                pause = ?self.pause,
                "accept failed; pausing accepts"
            );
            self.logged = Some(now);
            self.unlogged = 0;
        }
        self.pause
    }
}

/// The metric's `reason`: a few kinds, so the label stays small.
fn reason(e: &io::Error) -> &'static str {
    use nix::errno::Errno;
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EMFILE) => "emfile",
        Some(Errno::ENFILE) => "enfile",
        Some(Errno::ENOBUFS | Errno::ENOMEM) => "nomem",
        Some(Errno::ECONNABORTED) => "aborted",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(nix::errno::Errno::EMFILE as i32)
    }

    fn errors(listener: &str) -> u64 {
        METRICS.accept_errors.with_label_values(&[listener, "emfile"]).get()
    }

    /// Accepts with an `accept` failing `failures` times first; when each attempt was made.
    async fn attempts(backoff: &mut AcceptBackoff, failures: usize) -> Vec<Instant> {
        let mut at = Vec::new();
        backoff
            .accept(|| {
                at.push(Instant::now());
                let result = if at.len() > failures { Ok(()) } else { Err(emfile()) };
                std::future::ready(result)
            })
            .await;
        at
    }

    #[tokio::test(start_paused = true)]
    async fn out_of_descriptors_the_loop_pauses_longer_each_time_up_to_a_second() {
        let mut backoff = AcceptBackoff::new("backoff-test");
        let at = attempts(&mut backoff, 20).await;
        assert_eq!(at.len(), 21, "accepts until one succeeds");
        assert_eq!(errors("backoff-test"), 20, "each failure is counted");
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[0] >= FIRST_PAUSE, "a failed accept is not retried at once: {gaps:?}");
        assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "the pauses grow: {gaps:?}");
        assert!(gaps.iter().all(|g| *g <= MAX_PAUSE + Duration::from_millis(5)), "at most a second: {gaps:?}");
        let first_second = at.iter().filter(|t| t.duration_since(at[0]) < Duration::from_secs(1)).count();
        assert!(first_second <= 8, "{first_second} attempts in the first second");

        let again = attempts(&mut backoff, 1).await;
        let gap = again[1] - again[0];
        assert!(gap >= FIRST_PAUSE && gap < FIRST_PAUSE * 2, "a success starts the pauses over: {gap:?}");
    }
}
