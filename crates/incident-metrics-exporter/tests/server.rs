//! `MetricsServer`: bind `127.0.0.1:0`, read the bound address, scrape it
//! with a real hyper client, and shut it down with its signal.

#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use incident_metrics_core::Registry;
use incident_metrics_exporter::{Error, Format, MetricsServer, render};
use support::{connect, jobs_registry, send};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A bound on waits that should end at once; no test sleeps.
const PATIENCE: Duration = Duration::from_secs(10);

fn counting_registry() -> Arc<Registry> {
    Arc::new(jobs_registry())
}

/// Binds on port 0 and serves until the returned sender fires.
fn start(registry: Arc<Registry>) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), registry).unwrap();
    let addr = server.local_addr();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "port 0 is replaced by the bound port");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve_with_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (addr, stop, task)
}

#[tokio::test]
async fn answers_scrapes_in_both_formats() {
    let r = counting_registry();
    let (addr, stop, task) = start(Arc::clone(&r));
    let (mut client, _driver) = connect(addr).await;

    let (status, headers, body) = send(&mut client, Method::GET, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], Format::Prometheus.content_type());
    assert_eq!(headers["vary"], "Accept, Accept-Encoding");
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(body, render(&r, Format::Prometheus).unwrap());
    assert!(body.ends_with(b"svc_jobs_total{env=\"test\"} 4\n"));

    // Same connection (keep-alive): OpenMetrics, gzipped.
    let headers: [(&str, &[u8]); 2] = [
        ("accept", b"application/openmetrics-text"),
        ("accept-encoding", b"gzip"),
    ];
    let (status, headers, body) = send(&mut client, Method::GET, "/metrics", &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], Format::OpenMetrics.content_type());
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["content-length"], body.len().to_string());
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, render(&r, Format::OpenMetrics).unwrap());

    stop.send(()).unwrap();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn head_404_and_405() {
    let r = counting_registry();
    let (addr, stop, task) = start(Arc::clone(&r));
    let (mut client, _driver) = connect(addr).await;

    let (status, headers, body) = send(&mut client, Method::HEAD, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], Format::Prometheus.content_type());
    assert_eq!(
        headers["content-length"],
        render(&r, Format::Prometheus).unwrap().len().to_string()
    );
    assert!(body.is_empty());

    let (status, headers, body) = send(&mut client, Method::GET, "/other", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body, "not found: metrics are served at /metrics\n");

    let (status, _, _) = send(&mut client, Method::GET, "/metrics/", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The query string is not part of the path.
    let (status, _, _) = send(&mut client, Method::GET, "/metrics?x=1", &[]).await;
    assert_eq!(status, StatusCode::OK);

    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let (status, headers, _) = send(&mut client, method.clone(), "/metrics", &[]).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers["allow"], "GET, HEAD", "{method}");
    }

    stop.send(()).unwrap();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_completes_with_an_idle_connection_open() {
    let (addr, stop, task) = start(counting_registry());
    let (mut client, driver) = connect(addr).await;
    let (status, _, _) = send(&mut client, Method::GET, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);

    // The kept-alive connection is idle: shutdown closes it and returns.
    stop.send(()).unwrap();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
    tokio::time::timeout(PATIENCE, driver)
        .await
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[test]
fn a_second_bind_on_the_same_address_fails_naming_it() {
    // `bind` needs no runtime.
    let first = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), counting_registry()).unwrap();
    let addr = first.local_addr();
    let error = MetricsServer::bind(addr, counting_registry()).unwrap_err();
    match &error {
        Error::Bind {
            addr: failed,
            source,
        } => {
            assert_eq!(*failed, addr);
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains(&addr.to_string()), "{message}");
    assert!(
        message.starts_with("failed to bind the metrics server to"),
        "{message}"
    );
    assert!(format!("{first:?}").contains(&addr.to_string()));
}

#[tokio::test]
async fn serve_ends_when_its_task_is_dropped() {
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), counting_registry()).unwrap();
    let addr = server.local_addr();
    let task = tokio::spawn(server.serve());
    let (mut client, _driver) = connect(addr).await;
    let (status, _, _) = send(&mut client, Method::GET, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
}
