//! The gRPC API (`incident.v1.IncidentService`), generated from
//! `proto/incident/v1/incident.proto` at build time.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use tokio::sync::watch;
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status};

use crate::domain::{self, NewIncident};
use crate::manager::{EventKind, IncidentError, IncidentManager};
use crate::storage::PageCursor;

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
        IncidentError::Conflict(message) => Status::failed_precondition(message),
        IncidentError::StoreFull(message) => Status::resource_exhausted(message),
        e @ IncidentError::Storage(_) => Status::internal(e.to_string()),
    }
}

fn status_from_pb(value: i32) -> Result<Option<domain::Status>, Status> {
    match pb::Status::try_from(value) {
        Ok(pb::Status::Unspecified) => Ok(None),
        Ok(pb::Status::Open) => Ok(Some(domain::Status::Open)),
        Ok(pb::Status::Acknowledged) => Ok(Some(domain::Status::Acknowledged)),
        Ok(pb::Status::Resolved) => Ok(Some(domain::Status::Resolved)),
        Err(_) => Err(Status::invalid_argument("status: unknown value")),
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
            domain::Status::Acknowledged => pb::Status::Acknowledged,
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
        acknowledged_at_ms: i.acknowledged_at_ms.unwrap_or(0),
        labels: i
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        generator_url: i.generator_url.clone().unwrap_or_default(),
        origin: i.origin.as_str().to_owned(),
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
        let created = self.manager.create_detached(new).await.map_err(status)?;
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
        let r = request.into_inner();
        let filter = status_from_pb(r.status)?;
        let limit = match r.page_size {
            0 => crate::api::DEFAULT_PAGE,
            n if n < 0 => {
                return Err(Status::invalid_argument("page_size: must not be negative"));
            }
            n => usize::try_from(n)
                .unwrap_or(crate::api::MAX_PAGE)
                .min(crate::api::MAX_PAGE),
        };
        let after = match r.page_token.as_str() {
            "" => None,
            token => Some(PageCursor::parse(token).ok_or_else(|| {
                Status::invalid_argument("page_token: not a token this service answered")
            })?),
        };
        let page = self.manager.list(filter, after, limit).map_err(status)?;
        Ok(Response::new(pb::ListIncidentsResponse {
            incidents: page.incidents.iter().map(incident_to_pb).collect(),
            next_page_token: page.next.map(PageCursor::encode).unwrap_or_default(),
        }))
    }

    async fn resolve_incident(
        &self,
        request: Request<pb::ResolveIncidentRequest>,
    ) -> Result<Response<pb::Incident>, Status> {
        let id = request.into_inner().id;
        let incident = self.manager.resolve(&id).await.map_err(status)?;
        Ok(Response::new(incident_to_pb(&incident)))
    }

    async fn acknowledge_incident(
        &self,
        request: Request<pb::AcknowledgeIncidentRequest>,
    ) -> Result<Response<pb::Incident>, Status> {
        let id = request.into_inner().id;
        let incident = self.manager.acknowledge(&id).await.map_err(status)?;
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
                    EventKind::Acknowledged => pb::EventKind::Acknowledged,
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
