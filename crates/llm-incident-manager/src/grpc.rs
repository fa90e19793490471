//! The gRPC API (`incident.v1.IncidentService`), generated from
//! `proto/incident/v1/incident.proto` at build time.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use tokio::sync::watch;
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status};

use crate::domain::{self, EventKind, IncidentError, IncidentManager, NewIncident};

/// The generated messages, client and server of `incident.v1`.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    rust_2018_idioms
)]
pub mod pb {
    tonic::include_proto!("incident.v1");

    /// The encoded descriptor set, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/incident_descriptor.bin"));
}

use pb::incident_service_server::IncidentService;

/// The gRPC service, over the same [`IncidentManager`] as the REST API.
#[derive(Clone, Debug)]
pub struct GrpcService {
    manager: Arc<IncidentManager>,
    shutdown: watch::Receiver<bool>,
}

impl GrpcService {
    /// A service over `manager`; watch streams end when `shutdown` turns true.
    pub fn new(manager: Arc<IncidentManager>, shutdown: watch::Receiver<bool>) -> Self {
        Self { manager, shutdown }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> pb::incident_service_server::IncidentServiceServer<Self> {
        pb::incident_service_server::IncidentServiceServer::new(self)
    }
}

fn status(e: IncidentError) -> Status {
    match e {
        IncidentError::Invalid(e) => Status::invalid_argument(e.to_string()),
        IncidentError::NotFound(id) => Status::not_found(format!("incident {id} not found")),
        IncidentError::Storage(e) => Status::internal(e.to_string()),
    }
}

fn severity_to_pb(s: domain::Severity) -> pb::Severity {
    match s {
        domain::Severity::Critical => pb::Severity::Critical,
        domain::Severity::High => pb::Severity::High,
        domain::Severity::Medium => pb::Severity::Medium,
        domain::Severity::Low => pb::Severity::Low,
        domain::Severity::Info => pb::Severity::Info,
    }
}

fn severity_name(value: i32) -> Option<&'static str> {
    match pb::Severity::try_from(value).ok()? {
        pb::Severity::Unspecified => None,
        pb::Severity::Critical => Some("critical"),
        pb::Severity::High => Some("high"),
        pb::Severity::Medium => Some("medium"),
        pb::Severity::Low => Some("low"),
        pb::Severity::Info => Some("info"),
    }
}

/// The protobuf form of an incident.
pub fn incident_to_pb(i: &domain::Incident) -> pb::Incident {
    pb::Incident {
        id: i.id.clone(),
        title: i.title.clone(),
        description: i.description.clone(),
        severity: severity_to_pb(i.severity).into(),
        status: match i.status {
            domain::Status::Open => pb::Status::Open,
            domain::Status::Resolved => pb::Status::Resolved,
        }
        .into(),
        source: i.source.clone(),
        fingerprint: i.fingerprint.clone().unwrap_or_default(),
        created_at_ms: i.created_at_ms,
        updated_at_ms: i.updated_at_ms,
        resolved_at_ms: i.resolved_at_ms.unwrap_or(0),
        escalation_level: i.escalation_level,
        correlated_ids: i.correlated_ids.clone(),
        classification: i.classification.clone().unwrap_or_default(),
        summary: i.summary.clone().unwrap_or_default(),
        duplicate_count: i.duplicate_count,
        annotations: i.annotations.clone(),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::IncidentEvent, Status>> + Send>>;

#[tonic::async_trait]
impl IncidentService for GrpcService {
    async fn create_incident(
        &self,
        request: Request<pb::CreateIncidentRequest>,
    ) -> Result<Response<pb::CreateIncidentResponse>, Status> {
        let r = request.into_inner();
        let severity = severity_name(r.severity).ok_or_else(|| {
            Status::invalid_argument("severity: must be one of SEVERITY_CRITICAL .. SEVERITY_INFO")
        })?;
        let mut new = NewIncident::new(r.title, severity, r.source).with_description(r.description);
        if !r.fingerprint.is_empty() {
            new = new.with_fingerprint(r.fingerprint);
        }
        let created = self.manager.create(new).await.map_err(status)?;
        Ok(Response::new(pb::CreateIncidentResponse {
            incident: Some(incident_to_pb(&created.incident)),
            deduplicated: created.deduplicated,
        }))
    }

    async fn get_incident(
        &self,
        request: Request<pb::GetIncidentRequest>,
    ) -> Result<Response<pb::Incident>, Status> {
        let id = request.into_inner().id;
        let incident = self.manager.get(&id).map_err(status)?;
        Ok(Response::new(incident_to_pb(&incident)))
    }

    async fn list_incidents(
        &self,
        request: Request<pb::ListIncidentsRequest>,
    ) -> Result<Response<pb::ListIncidentsResponse>, Status> {
        let filter = match pb::Status::try_from(request.into_inner().status) {
            Ok(pb::Status::Unspecified) => None,
            Ok(pb::Status::Open) => Some(domain::Status::Open),
            Ok(pb::Status::Resolved) => Some(domain::Status::Resolved),
            Err(_) => return Err(Status::invalid_argument("status: unknown value")),
        };
        let incidents = self.manager.list(filter).map_err(status)?;
        Ok(Response::new(pb::ListIncidentsResponse {
            incidents: incidents.iter().map(incident_to_pb).collect(),
        }))
    }

    async fn resolve_incident(
        &self,
        request: Request<pb::ResolveIncidentRequest>,
    ) -> Result<Response<pb::Incident>, Status> {
        let id = request.into_inner().id;
        let incident = self.manager.resolve(&id).map_err(status)?;
        Ok(Response::new(incident_to_pb(&incident)))
    }

    type WatchIncidentsStream = EventStream;

    async fn watch_incidents(
        &self,
        _request: Request<pb::WatchIncidentsRequest>,
    ) -> Result<Response<Self::WatchIncidentsStream>, Status> {
        let events =
            BroadcastStream::new(self.manager.subscribe()).filter_map(|event| async move {
                // A lagging watcher skips what it missed.
                let event = event.ok()?;
                let kind = match event.kind {
                    EventKind::Created => pb::EventKind::Created,
                    EventKind::Deduplicated => pb::EventKind::Deduplicated,
                    EventKind::Resolved => pb::EventKind::Resolved,
                    EventKind::Escalated => pb::EventKind::Escalated,
                    EventKind::Correlated => pb::EventKind::Correlated,
                };
                Some(Ok(pb::IncidentEvent {
                    kind: kind.into(),
                    incident: Some(incident_to_pb(&event.incident)),
                }))
            });
        let mut shutdown = self.shutdown.clone();
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        Ok(Response::new(Box::pin(events.take_until(stop))))
    }
}
