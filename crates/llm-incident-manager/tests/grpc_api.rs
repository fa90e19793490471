//! The gRPC API over a real tonic client: create (with dedup), get, list,
//! resolve, errors, the watch stream, health and reflection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use llm_incident_manager::grpc::pb;
use pb::incident_service_client::IncidentServiceClient;
use tonic::Code;
use tonic::transport::Channel;

async fn connect(app: &llm_incident_manager::RunningApp) -> Channel {
    Channel::from_shared(format!("http://{}", app.grpc_addr()))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap()
}

fn new_incident(title: &str, severity: pb::Severity) -> pb::CreateIncidentRequest {
    pb::CreateIncidentRequest {
        title: title.to_owned(),
        description: "replica lag on the database".to_owned(),
        severity: severity.into(),
        source: "grpc-test".to_owned(),
        fingerprint: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_list_resolve_over_grpc() {
    let app = start_default().await;
    let mut client = IncidentServiceClient::new(connect(&app).await);

    let created = client
        .create_incident(new_incident("db lag", pb::Severity::High))
        .await
        .unwrap()
        .into_inner();
    assert!(!created.deduplicated);
    let incident = created.incident.unwrap();
    assert_eq!(incident.status(), pb::Status::Open);
    assert_eq!(incident.severity(), pb::Severity::High);
    // The analysis is done by the outbox's worker, after the answer.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = client
            .get_incident(pb::GetIncidentRequest {
                id: incident.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if !got.classification.is_empty() || tokio::time::Instant::now() >= deadline {
            assert_eq!(got.classification, "database");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let dup = client
        .create_incident(new_incident("db lag", pb::Severity::High))
        .await
        .unwrap()
        .into_inner();
    assert!(dup.deduplicated);
    assert_eq!(dup.incident.unwrap().id, incident.id);

    let got = client
        .get_incident(pb::GetIncidentRequest {
            id: incident.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.title, "db lag");

    let list = client
        .list_incidents(pb::ListIncidentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.incidents.len(), 1);

    let resolved = client
        .resolve_incident(pb::ResolveIncidentRequest {
            id: incident.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.status(), pb::Status::Resolved);

    let open = client
        .list_incidents(pb::ListIncidentsRequest {
            status: pb::Status::Open.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(open.incidents.is_empty());

    // Errors.
    let err = client
        .get_incident(pb::GetIncidentRequest { id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .resolve_incident(pb::ResolveIncidentRequest { id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .create_incident(new_incident("x", pb::Severity::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = client
        .create_incident(new_incident("", pb::Severity::Low))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // The REST API sees the same incidents and the same families moved.
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incidents_total{severity=\"high\",status=\"open\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incidents_total{severity=\"high\",status=\"resolved\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_incidents_active{severity=\"high\"}"
        ),
        0.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_events_and_ends_at_shutdown() {
    let app = start_default().await;
    let channel = connect(&app).await;
    let mut client = IncidentServiceClient::new(channel.clone());
    let mut stream = client
        .watch_incidents(pb::WatchIncidentsRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut creator = IncidentServiceClient::new(channel);
    let created = creator
        .create_incident(new_incident("watched", pb::Severity::Medium))
        .await
        .unwrap()
        .into_inner()
        .incident
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no event in time")
        .expect("stream ended")
        .unwrap();
    assert_eq!(event.kind(), pb::EventKind::Created);
    assert_eq!(event.incident.unwrap().id, created.id);
    // The open watch shows in the gRPC layer's streams gauge.
    let text = scrape(app.http_addr()).await;
    assert_eq!(
        value(
            &text,
            "llm_incident_manager_grpc_streams_active{service=\"incident.v1.IncidentService\",method=\"WatchIncidents\"}"
        ),
        1.0,
        "{text}"
    );

    // Shutdown ends the stream, and the service stops while it is open.
    let handle = app.shutdown_handle();
    let waiter = tokio::spawn(app.wait());
    handle.trigger();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(item) = stream.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "watch stream did not end at shutdown");
    tokio::time::timeout(Duration::from_secs(15), waiter)
        .await
        .expect("shutdown timed out")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served() {
    let app = start_default().await;
    let channel = connect(&app).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "incident.v1.IncidentService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"incident.v1.IncidentService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_are_counted_by_service_method_and_status() {
    let app = start_default().await;
    let mut client = IncidentServiceClient::new(connect(&app).await);
    for i in 0..2 {
        client
            .create_incident(new_incident(&format!("g{i}"), pb::Severity::Low))
            .await
            .unwrap();
    }
    let _ = client
        .get_incident(pb::GetIncidentRequest { id: "nope".into() })
        .await;
    let text = scrape(app.http_addr()).await;
    let m = |s: &str| value(&text, &format!("llm_incident_manager_{s}"));
    let svc = "service=\"incident.v1.IncidentService\"";
    assert_eq!(
        m(&format!(
            "grpc_requests_total{{{svc},method=\"CreateIncident\",status=\"OK\"}}"
        )),
        2.0,
        "{text}"
    );
    assert_eq!(
        m(&format!(
            "grpc_requests_total{{{svc},method=\"GetIncident\",status=\"NOT_FOUND\"}}"
        )),
        1.0
    );
    assert_eq!(
        m(&format!(
            "grpc_request_duration_seconds_count{{{svc},method=\"CreateIncident\"}}"
        )),
        2.0
    );
    app.shutdown().await.unwrap();
}
