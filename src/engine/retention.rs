//! The hot retention: resolved incidents older than `--hot-retention` leave memory for the
//! cold index (see `store::cold`).
//!
//! A cut every tenth of the retention (at least a second apart, at most ten minutes), on
//! the store's clock: how long a resolved incident lingers past the window is bounded by
//! that interval, and nothing waits on it (a retired incident reads the same).

use std::time::Duration;

use tokio::sync::watch;

use crate::store::Store;

/// How often the cut runs for `retention`.
pub fn interval(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(600))
}

/// Retires resolved incidents older than `retention`, now and then every [`interval`],
/// until `stop` turns true.
pub async fn run_retention(store: Store, retention: Duration, mut stop: watch::Receiver<bool>) {
    let Ok(window) = chrono::Duration::from_std(retention) else {
        return;
    };
    loop {
        let cutoff = store.clock().now() - window;
        // Several processes on one database: the engine holder cuts for all of them.
        let outcome = if store.is_engine_holder() {
            store.retire_resolved(cutoff).await
        } else {
            Ok(0)
        };
        match outcome {
            Ok(0) => {}
            Ok(retired) => tracing::info!(retired, "resolved incidents moved to the cold index"),
            Err(error) => tracing::warn!(%error, "retiring resolved incidents failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval(retention)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_runs_a_tenth_of_the_window_apart_within_bounds() {
        assert_eq!(
            interval(Duration::from_secs(7 * 86_400)),
            Duration::from_secs(600)
        );
        assert_eq!(interval(Duration::from_secs(60)), Duration::from_secs(6));
        assert_eq!(interval(Duration::from_secs(2)), Duration::from_secs(1));
    }
}
