//! Connection bounds of the running service (issue 16, points 1 and 2):
//!
//! - gRPC: twice the cap of sockets that send one byte and stall are all
//!   closed by the handshake timeout (the cap admits them in two waves, so
//!   the first wave closes within the timeout plus 1 s and the second
//!   within twice the timeout plus 1 s), the process's open files stay under
//!   its baseline plus the cap plus a slack of 16, and a real gRPC client is
//!   served meanwhile; an HTTP/2 client reads `SETTINGS_MAX_CONCURRENT_STREAMS`
//!   at the configured value.
//! - HTTP/1 slow readers: with `max_connections = 4`, four clients that ask
//!   for `/metrics` (pipelined, so that the answers outgrow the socket
//!   buffers) with a tiny receive buffer and never read are closed by the
//!   write timeout, and a fifth gets `/health` within the timeout plus 1 s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use llm_incident_manager::grpc::pb;
use pb::incident_service_client::IncidentServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HANDSHAKE_TIMEOUT_MS: u64 = 1000;
const GRPC_CAP: usize = 20;
const STREAMS: u32 = 7;
/// Open files of the service beyond its baseline and the cap: the real
/// client's connection, the store's journal, runtime descriptors.
const FD_SLACK: usize = 16;

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Reads until EOF or an error; how long after `since` that came.
async fn until_closed(mut stream: TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0_u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return since.elapsed(),
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_grpc_sockets_are_closed_bounded_and_a_real_client_is_served() {
    let dir = incident_metrics_testing::scratch_dir("grpc-bounds");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "playbooks = []\n[limits]\nheader_read_timeout_ms = {HANDSHAKE_TIMEOUT_MS}\n\
             grpc_max_connections = {GRPC_CAP}\ngrpc_max_concurrent_streams = {STREAMS}\n"
        ),
    )
    .unwrap();
    let db = dir.join("incidents.db");
    let (child, lines) = spawn_binary(
        &[
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ],
        &[],
        2,
    );
    let grpc = listening(&lines[1], "grpc");
    let pid = child.0.id();
    let baseline = open_files(pid);
    assert!(baseline > 0, "cannot read /proc/{pid}/fd");

    // The peak of the service's open files while the sockets stall.
    let peak = Arc::new(AtomicUsize::new(baseline));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn({
        let (peak, sampling) = (peak.clone(), sampling.clone());
        async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(open_files(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });

    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..2 * GRPC_CAP {
        let mut socket = TcpStream::connect(grpc).await.unwrap();
        socket.write_all(b"P").await.unwrap();
        stalled.push(socket);
    }
    // A real client, meanwhile: it waits in the backlog behind the
    // stalled sockets and is served once they are closed.
    let client = tokio::spawn(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(10))
            .connect()
            .await
            .unwrap();
        let mut client = IncidentServiceClient::new(channel);
        client
            .create_incident(pb::CreateIncidentRequest {
                title: "served during the flood".to_owned(),
                severity: pb::Severity::Low as i32,
                source: "bounds".to_owned(),
                ..Default::default()
            })
            .await
            .map(|_| started.elapsed())
    });

    let timeout = Duration::from_millis(HANDSHAKE_TIMEOUT_MS);
    let limit = 2 * timeout + Duration::from_secs(1);
    let closes: Vec<_> = futures_util::future::join_all(
        stalled
            .into_iter()
            .map(|s| until_closed(s, started, limit + Duration::from_secs(5))),
    )
    .await;
    let mut closes: Vec<Duration> = closes
        .into_iter()
        .map(|c| c.expect("a stalled socket was still open 5 s past the bound"))
        .collect();
    closes.sort();
    let first_wave = closes[GRPC_CAP - 1];
    let last = closes[closes.len() - 1];
    assert!(
        first_wave >= timeout - Duration::from_millis(50),
        "{closes:?}"
    );
    assert!(first_wave <= timeout + Duration::from_secs(1), "{closes:?}");
    assert!(last <= limit, "{closes:?}");

    let served = client.await.unwrap().expect("the real client was refused");
    assert!(
        served <= limit + Duration::from_secs(2),
        "served after {served:?}"
    );

    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        peak <= baseline + GRPC_CAP + FD_SLACK,
        "open files peaked at {peak} (baseline {baseline}, cap {GRPC_CAP}, slack {FD_SLACK})"
    );
    eprintln!(
        "grpc bounds: baseline {baseline} fds, peak {peak}; closes {:?}..{:?}; client served at {served:?}",
        closes[0], last
    );

    // An HTTP/2 client reads the configured SETTINGS_MAX_CONCURRENT_STREAMS.
    let tcp = TcpStream::connect(grpc).await.unwrap();
    let (mut h2, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        h2 = h2.ready().await.unwrap();
        if h2.current_max_send_streams() == STREAMS as usize {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SETTINGS_MAX_CONCURRENT_STREAMS reads {}",
            h2.current_max_send_streams()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_grpc_stream_limit_is_announced() {
    let app = start(config("playbooks = []\n")).await;
    let tcp = TcpStream::connect(app.grpc_addr()).await.unwrap();
    let (mut h2, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let deadline = Instant::now() + Duration::from_secs(10);
    while h2.current_max_send_streams() != 200 {
        h2 = h2.ready().await.unwrap();
        assert!(
            Instant::now() < deadline,
            "{}",
            h2.current_max_send_streams()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.shutdown().await.unwrap();
}

const WRITE_TIMEOUT_MS: u64 = 1000;

/// How many `/metrics` requests each slow reader pipelines: one answer
/// (about 50 KB) fits in loopback's socket buffers (the sender's grows
/// past 1 MB at once), so each asks for enough answers (about 10 MB) that
/// the writes stall.
const PIPELINED: usize = 200;

/// A client with a tiny receive buffer that asks for `/metrics` and never
/// reads.
async fn slow_reader(addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let requests = "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n".repeat(PIPELINED);
    stream.write_all(requests.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_are_closed_by_the_write_timeout_and_do_not_shut_others_out() {
    // The header timeout is long: only the write timeout can free the slots.
    let app = start(config(&format!(
        "playbooks = []\n[limits]\nmax_connections = 4\nwrite_timeout_ms = {WRITE_TIMEOUT_MS}\n\
         header_read_timeout_ms = 60000\n"
    )))
    .await;
    // Enough series that an answer outgrows the socket buffers.
    for i in 0..50 {
        create(
            &app,
            &format!("incident {i}"),
            "low",
            &format!("source-{i}"),
        )
        .await;
    }
    let size = scrape(app.http_addr()).await.len();
    let addr = app.http_addr();
    let readers = futures_util::future::join_all((0..4).map(|_| slow_reader(addr))).await;
    // The four hold every slot (accepted in order, before the fifth).
    let started = Instant::now();
    let timeout = Duration::from_millis(WRITE_TIMEOUT_MS);
    let health = tokio::time::timeout(
        timeout + Duration::from_secs(1),
        try_get(&format!("http://{addr}/health")),
    )
    .await;
    let waited = started.elapsed();
    assert!(
        matches!(health, Ok(Some((http::StatusCode::OK, _)))),
        "/health not answered within {:?} (answer {health:?}, /metrics is {size} bytes)",
        timeout + Duration::from_secs(1)
    );
    // The four were closed: each reads to its end without our help.
    let since = Instant::now();
    for reader in readers {
        assert!(
            until_closed(reader, since, Duration::from_secs(5))
                .await
                .is_some(),
            "a slow reader was not closed"
        );
    }
    eprintln!("slow readers: /metrics {size} bytes, /health after {waited:?}");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_http2_peer_is_closed_by_keepalive_pings() {
    let (interval, timeout) = (300_u64, 300_u64);
    let app = start(config(&format!(
        "playbooks = []\n[limits]\nheader_read_timeout_ms = 60000\n\
         http2_keepalive_interval_ms = {interval}\nhttp2_keepalive_timeout_ms = {timeout}\n"
    )))
    .await;
    // A peer that completes the HTTP/2 preface and then never answers
    // anything, pings included (as a vanished host would).
    let mut peer = TcpStream::connect(app.grpc_addr()).await.unwrap();
    peer.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let started = Instant::now();
    let bound = Duration::from_millis(interval + timeout) + Duration::from_secs(1);
    let closed = until_closed(peer, started, bound + Duration::from_secs(5)).await;
    let closed = closed.expect("the dead peer was never closed");
    assert!(closed <= bound, "closed after {closed:?}");
    // A live client on the same server keeps working.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.grpc_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    IncidentServiceClient::new(channel)
        .list_incidents(pb::ListIncidentsRequest::default())
        .await
        .unwrap();
    app.shutdown().await.unwrap();
}
