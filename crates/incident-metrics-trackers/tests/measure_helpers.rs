//! measure, measure_async and count_errors: completion, drop and panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use incident_metrics_core::Histogram;
use incident_metrics_core::prometheus_client::metrics::counter::Counter;
use incident_metrics_trackers::{count_errors, measure, measure_async};

fn histogram() -> Histogram {
    Histogram::new("h_seconds", &[0.001, 0.01, 0.1, 1.0]).unwrap()
}

/// Polls `fut` once.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn measure_observes_on_return_and_on_panic() {
    let h = histogram();
    assert_eq!(measure(&h, || 5), 5);
    let r = catch_unwind(AssertUnwindSafe(|| {
        measure(&h, || -> () { panic!("closure panicked") })
    }));
    assert!(r.is_err());
    assert_eq!(h.count(), 2);
    measure(&h, || std::thread::sleep(Duration::from_millis(15)));
    assert!(h.sum() >= 0.015);
}

#[tokio::test]
async fn measure_async_observes_on_completion_and_on_drop() {
    let h = histogram();
    let v = measure_async(&h, async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        3
    })
    .await;
    assert_eq!(v, 3);
    assert_eq!(h.count(), 1);
    assert!(h.sum() >= 0.01);

    // Cancelled mid-way (a timeout drops it): observed once, at the drop.
    let slow = measure_async(&h, tokio::time::sleep(Duration::from_secs(60)));
    assert!(
        tokio::time::timeout(Duration::from_millis(5), slow)
            .await
            .is_err()
    );
    assert_eq!(h.count(), 2);

    // A panic inside the future.
    let task = tokio::spawn({
        let h = h.clone();
        async move {
            measure_async(&h, async {
                tokio::task::yield_now().await;
                panic!("future panicked")
            })
            .await
        }
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(h.count(), 3);
}

#[test]
fn count_errors_counts_err_and_panic_but_not_ok_or_cancel() {
    let errors = Counter::<u64>::default();
    let mut ok = pin!(count_errors(&errors, async { Ok::<u8, ()>(1) }));
    assert_eq!(poll_once(ok.as_mut()), Poll::Ready(Ok(1)));
    let mut err = pin!(count_errors(&errors, async { Err::<u8, &str>("no") }));
    assert_eq!(poll_once(err.as_mut()), Poll::Ready(Err("no")));
    assert_eq!(errors.get(), 1);

    // Dropped while pending: a cancellation, not an error.
    {
        let mut pending = pin!(count_errors(
            &errors,
            std::future::pending::<Result<(), ()>>()
        ));
        assert!(poll_once(pending.as_mut()).is_pending());
    }
    assert_eq!(errors.get(), 1);

    // A panic while polled counts once.
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut boom = pin!(count_errors(&errors, async {
            panic!("poll panicked");
            #[allow(unreachable_code)]
            Ok::<(), ()>(())
        }));
        let _ = poll_once(boom.as_mut());
    }));
    assert!(r.is_err());
    assert_eq!(errors.get(), 2);
}
