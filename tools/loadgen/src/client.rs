//! The clients: the request mix over REST and gRPC, and what the clients
//! counted, to compare with what the service's metrics say.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use llm_incident_manager::grpc::pb;
use serde_json::{Value, json};

use crate::error::LoadgenError;
use crate::target::Target;

/// How long one request may take before it counts as a failure.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Distinct fingerprints per client: creates beyond these deduplicate.
const FINGERPRINTS_PER_CLIENT: u64 = 4;

/// What the clients counted: REST by (method, route template, status),
/// gRPC by (method, status code), incidents by (severity, status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) http: BTreeMap<(String, String, String), u64>,
    pub(crate) grpc: BTreeMap<(String, String), u64>,
    pub(crate) incidents: BTreeMap<(String, String), u64>,
    pub(crate) deduplicated: u64,
    pub(crate) failures: u64,
    pub(crate) first_failure: Option<String>,
}

impl Counts {
    pub(crate) fn merge(&mut self, other: &Self) {
        for (k, v) in &other.http {
            *self.http.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.grpc {
            *self.grpc.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.incidents {
            *self.incidents.entry(k.clone()).or_default() += v;
        }
        self.deduplicated += other.deduplicated;
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
    }

    fn fail(&mut self, what: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(what);
    }

    fn http(&mut self, method: &str, path: &str, status: StatusCode) {
        *self
            .http
            .entry((
                method.to_owned(),
                path.to_owned(),
                status.as_u16().to_string(),
            ))
            .or_default() += 1;
    }

    fn grpc(&mut self, method: &str, code: tonic::Code) {
        *self
            .grpc
            .entry((method.to_owned(), code_name(code).to_owned()))
            .or_default() += 1;
    }

    fn incident(&mut self, severity: &str, status: &str) {
        *self
            .incidents
            .entry((severity.to_owned(), status.to_owned()))
            .or_default() += 1;
    }

    pub(crate) fn requests(&self) -> u64 {
        self.http.values().sum::<u64>() + self.grpc.values().sum::<u64>()
    }
}

/// The gRPC status names of the `grpc_requests_total` `status` label.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The operation of a client's `n`th request: 4 creates, 3 gets, 2 lists
/// and 1 resolve in every 10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Get,
    List,
    Resolve,
}

const MIX: [Op; 10] = [
    Op::Create,
    Op::Get,
    Op::List,
    Op::Create,
    Op::Get,
    Op::Create,
    Op::Resolve,
    Op::Get,
    Op::List,
    Op::Create,
];

const SEVERITIES: [&str; 3] = ["low", "medium", "info"];

/// A client's state: its fingerprints are its own, so it knows which of its
/// incidents are open and counts resolves exactly.
pub(crate) struct ClientState {
    id: usize,
    n: u64,
    open: Vec<String>,
    pub(crate) counts: Counts,
}

impl ClientState {
    fn new(id: usize) -> Self {
        Self {
            id,
            n: 0,
            open: Vec::new(),
            counts: Counts::default(),
        }
    }

    fn next(&mut self) -> (Op, u64) {
        let n = self.n;
        self.n += 1;
        let op = MIX[usize::try_from(n % 10).unwrap_or(0)];
        (op, n)
    }

    fn fingerprint(&self, n: u64) -> (String, &'static str) {
        let k = n % FINGERPRINTS_PER_CLIENT;
        let severity = SEVERITIES[usize::try_from(k % 3).unwrap_or(0)];
        (format!("loadgen-{}-{k}", self.id), severity)
    }

    /// The id to get: one in 50 unknown (404 / NOT_FOUND), else an open one.
    fn get_id(&self, n: u64) -> Option<String> {
        if n % 50 == 1 {
            return Some("no-such-incident".to_owned());
        }
        self.open.last().cloned()
    }

    fn remember(&mut self, id: String) {
        if !self.open.contains(&id) {
            self.open.push(id);
        }
    }
}

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub(crate) async fn http_call(
    client: &HttpClient,
    method: Method,
    url: String,
    body: Option<String>,
) -> Result<(StatusCode, Bytes), String> {
    let mut builder = Request::builder().method(method).uri(&url);
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| format!("{url}: {e}"))?;
    let call = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{url}: body: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(format!("{url}: no answer within {REQUEST_TIMEOUT:?}")),
    }
}

/// One REST request of the mix; false when it failed.
async fn http_step(client: &HttpClient, base: &str, s: &mut ClientState) -> bool {
    let (op, n) = s.next();
    match op {
        Op::Create => {
            let (fingerprint, severity) = s.fingerprint(n);
            let body = json!({
                "title": "loadgen incident",
                "description": "synthetic load on the reference service",
                "severity": severity,
                "source": format!("loadgen-{}", s.id),
                "fingerprint": fingerprint,
            })
            .to_string();
            let url = format!("{base}/api/v1/incidents");
            match http_call(client, Method::POST, url, Some(body)).await {
                Ok((status, body)) => {
                    s.counts.http("POST", "/api/v1/incidents", status);
                    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let id = value["id"].as_str().map(str::to_owned);
                    let dedup = value["deduplicated"].as_bool();
                    match (status.as_u16(), id, dedup) {
                        (201, Some(id), Some(false)) => {
                            s.counts.incident(severity, "open");
                            s.remember(id);
                        }
                        (200, Some(id), Some(true)) => {
                            s.counts.incident(severity, "deduplicated");
                            s.counts.deduplicated += 1;
                            s.remember(id);
                        }
                        _ => s.counts.fail(format!("POST create answered {status}")),
                    }
                }
                Err(e) => s.counts.fail(e),
            }
        }
        Op::Get => {
            let Some(id) = s.get_id(n) else {
                return true;
            };
            let url = format!("{base}/api/v1/incidents/{id}");
            match http_call(client, Method::GET, url, None).await {
                Ok((status, _)) => s.counts.http("GET", "/api/v1/incidents/{id}", status),
                Err(e) => s.counts.fail(e),
            }
        }
        Op::List => {
            let url = format!("{base}/api/v1/incidents?status=open");
            match http_call(client, Method::GET, url, None).await {
                Ok((status, _)) => s.counts.http("GET", "/api/v1/incidents", status),
                Err(e) => s.counts.fail(e),
            }
        }
        Op::Resolve => {
            let Some(id) = s.open.pop() else {
                return true;
            };
            let url = format!("{base}/api/v1/incidents/{id}/resolve");
            match http_call(client, Method::POST, url, None).await {
                Ok((status, body)) => {
                    s.counts
                        .http("POST", "/api/v1/incidents/{id}/resolve", status);
                    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    match (status.as_u16(), value["severity"].as_str()) {
                        (200, Some(severity)) => s.counts.incident(severity, "resolved"),
                        _ => s.counts.fail(format!("POST resolve answered {status}")),
                    }
                }
                Err(e) => s.counts.fail(e),
            }
        }
    }
    s.counts.failures == 0
}

pub(crate) type GrpcClient =
    pb::incident_service_client::IncidentServiceClient<tonic::transport::Channel>;

fn severity_pb(severity: &str) -> pb::Severity {
    match severity {
        "low" => pb::Severity::Low,
        "medium" => pb::Severity::Medium,
        _ => pb::Severity::Info,
    }
}

fn severity_name(severity: i32) -> &'static str {
    match pb::Severity::try_from(severity) {
        Ok(pb::Severity::Critical) => "critical",
        Ok(pb::Severity::High) => "high",
        Ok(pb::Severity::Medium) => "medium",
        Ok(pb::Severity::Low) => "low",
        Ok(pb::Severity::Info) => "info",
        _ => "unspecified",
    }
}

async fn grpc_timed<T>(
    what: &str,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<Result<T, tonic::Status>, String> {
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(Ok(response)) => Ok(Ok(response.into_inner())),
        Ok(Err(status)) => Ok(Err(status)),
        Err(_) => Err(format!("gRPC {what}: no answer within {REQUEST_TIMEOUT:?}")),
    }
}

fn code_of<T>(result: &Result<T, tonic::Status>) -> tonic::Code {
    match result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

/// One gRPC request of the mix; false when it failed.
async fn grpc_step(client: &mut GrpcClient, s: &mut ClientState) -> bool {
    let (op, n) = s.next();
    match op {
        Op::Create => {
            let (fingerprint, severity) = s.fingerprint(n);
            let request = pb::CreateIncidentRequest {
                title: "loadgen incident".to_owned(),
                description: "synthetic load on the reference service".to_owned(),
                severity: severity_pb(severity).into(),
                source: format!("loadgen-{}", s.id),
                fingerprint,
            };
            match grpc_timed("CreateIncident", client.create_incident(request)).await {
                Ok(result) => {
                    s.counts.grpc("CreateIncident", code_of(&result));
                    match result {
                        Ok(r) => match r.incident {
                            Some(incident) if r.deduplicated => {
                                s.counts.incident(severity, "deduplicated");
                                s.counts.deduplicated += 1;
                                s.remember(incident.id);
                            }
                            Some(incident) => {
                                s.counts.incident(severity, "open");
                                s.remember(incident.id);
                            }
                            None => s.counts.fail("CreateIncident without incident".into()),
                        },
                        Err(e) => s.counts.fail(format!("CreateIncident: {e}")),
                    }
                }
                Err(e) => s.counts.fail(e),
            }
        }
        Op::Get => {
            let Some(id) = s.get_id(n) else {
                return true;
            };
            let request = pb::GetIncidentRequest { id };
            match grpc_timed("GetIncident", client.get_incident(request)).await {
                Ok(result) => s.counts.grpc("GetIncident", code_of(&result)),
                Err(e) => s.counts.fail(e),
            }
        }
        Op::List => {
            let request = pb::ListIncidentsRequest {
                status: pb::Status::Open.into(),
                ..Default::default()
            };
            match grpc_timed("ListIncidents", client.list_incidents(request)).await {
                Ok(result) => s.counts.grpc("ListIncidents", code_of(&result)),
                Err(e) => s.counts.fail(e),
            }
        }
        Op::Resolve => {
            let Some(id) = s.open.pop() else {
                return true;
            };
            let request = pb::ResolveIncidentRequest { id };
            match grpc_timed("ResolveIncident", client.resolve_incident(request)).await {
                Ok(result) => {
                    s.counts.grpc("ResolveIncident", code_of(&result));
                    match result {
                        Ok(incident) => s
                            .counts
                            .incident(severity_name(incident.severity), "resolved"),
                        Err(e) => s.counts.fail(format!("ResolveIncident: {e}")),
                    }
                }
                Err(e) => s.counts.fail(e),
            }
        }
    }
    s.counts.failures == 0
}

/// A client that sends the next request of the mix: REST to `base`
/// (`http://host:port`), or gRPC on its own channel.
pub(crate) trait Step: Send + 'static {
    /// Sends `s`'s next request and counts it in `s`; false when it failed.
    fn step(&mut self, base: &str, s: &mut ClientState) -> impl Future<Output = bool> + Send;
}

impl Step for HttpClient {
    fn step(&mut self, base: &str, s: &mut ClientState) -> impl Future<Output = bool> + Send {
        http_step(self, base, s)
    }
}

impl Step for GrpcClient {
    fn step(&mut self, _base: &str, s: &mut ClientState) -> impl Future<Output = bool> + Send {
        grpc_step(self, s)
    }
}

/// The clients of one target, kept across its phases (keep-alive
/// connections, and each client's open incidents).
pub(crate) struct Clients {
    pub(crate) http: Vec<(HttpClient, ClientState)>,
    pub(crate) grpc: Vec<(GrpcClient, ClientState)>,
}

pub(crate) async fn connect_clients(
    target: &Target,
    concurrency: usize,
    first_id: usize,
) -> Result<Clients, LoadgenError> {
    let n_http = concurrency.div_ceil(2);
    let n_grpc = concurrency - n_http;
    let mut http = Vec::new();
    for i in 0..n_http {
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build_http();
        http.push((client, ClientState::new(first_id + i)));
    }
    let mut grpc = Vec::new();
    for i in 0..n_grpc {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", target.grpc))
            .map_err(|e| LoadgenError::Connect {
                addr: target.grpc,
                message: e.to_string(),
            })?
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| LoadgenError::Connect {
                addr: target.grpc,
                message: e.to_string(),
            })?;
        grpc.push((
            GrpcClient::new(channel),
            ClientState::new(first_id + n_http + i),
        ));
    }
    Ok(Clients { http, grpc })
}
