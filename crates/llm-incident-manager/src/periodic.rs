//! [`every`]: the service's periodic background work (escalation, the
//! storage size gauge).

use std::time::Duration;

use tokio::sync::watch;

/// Calls `tick` at once and then every `interval` (a late tick delays the
/// next ones, it does not bunch them up) until `stop` turns true.
pub(crate) async fn every(
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut tick: impl FnMut(),
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => tick(),
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}
