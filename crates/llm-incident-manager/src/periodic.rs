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

/// [`every`] for work that awaits: calls `tick` at once and then every
/// `interval` until `stop` turns true; a tick runs to its end before the
/// next starts, and `stop` is looked at between ticks.
pub(crate) async fn every_async<F, Fut>(
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut tick: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopped = tokio::select! {
            _ = ticker.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        if stopped {
            break;
        }
        tick().await;
    }
}
