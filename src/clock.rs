//! The one seam through which Klaxon reads the time.
//!
//! Production uses [`SystemClock`]. Tests use [`TokioClock`], a wall clock that advances
//! with tokio's clock, so `tokio::time::pause()` / `advance()` drive escalations without
//! real sleeps. Nothing else in the crate calls `Utc::now()`.

use std::sync::Arc;

use chrono::{DurationRound, TimeDelta, Utc};

use crate::domain::Timestamp;

/// Source of "now" for every decision that depends on time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant, truncated to the millisecond (the precision the API prints),
    /// so a value read back from the API equals the one stored.
    fn now(&self) -> Timestamp;
}

/// A shareable clock.
pub type SharedClock = Arc<dyn Clock>;

fn millis(t: Timestamp) -> Timestamp {
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

/// The machine's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        millis(Utc::now())
    }
}

/// A wall clock that moves with `tokio::time`: `origin` plus the tokio time elapsed since
/// it was made. Under `tokio::time::pause()` it stands still until the test advances it.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: Timestamp,
    started: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `origin` now.
    pub fn starting_at(origin: Timestamp) -> Self {
        Self {
            origin,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.started.elapsed();
        millis(self.origin + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX))
    }
}

/// The tokio instant at which `clock` will read `at` (now, if `at` has passed).
pub fn instant_of(clock: &dyn Clock, at: Timestamp) -> tokio::time::Instant {
    let wait = (at - clock.now()).to_std().unwrap_or_default();
    tokio::time::Instant::now() + wait
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let origin = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = TokioClock::starting_at(origin);
        assert_eq!(clock.now(), origin);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now(), origin + TimeDelta::milliseconds(1500));
    }

    #[test]
    fn system_clock_has_millisecond_precision() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
