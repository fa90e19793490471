//! The REST handlers, `/health`, and [`metrics`], the `/metrics` handler.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

#[allow(unused_imports, reason = "named by the OpenAPI annotations")]
use super::openapi::{CreatedIncident, ErrorBody, HealthBody, IncidentId, IncidentList};
use super::{ApiState, DEFAULT_PAGE, MAX_PAGE};
use crate::domain::{Incident, NewIncident, Status};
use crate::manager::IncidentError;
use crate::storage::PageCursor;

/// A REST error: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, message)
    }

    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<IncidentError> for ApiError {
    fn from(e: IncidentError) -> Self {
        let status = match &e {
            IncidentError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            IncidentError::NotFound(_) => StatusCode::NOT_FOUND,
            IncidentError::Conflict(_) => StatusCode::CONFLICT,
            IncidentError::StoreFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            IncidentError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

/// The JSON form of an incident.
pub fn incident_json(incident: &Incident) -> Value {
    serde_json::to_value(incident).unwrap_or(Value::Null)
}

/// `POST /api/v1/incidents`: `201` with a new incident, `200` with the
/// active duplicate (`"deduplicated": true`), `400` for bad JSON, `422` for
/// bad fields, `413` over the body limit, `507` when the store is full. The
/// answer comes once the incident and the work it owes are committed; the
/// LLM's `classification` and `summary` are filled in afterwards.
#[utoipa::path(
    post,
    path = "/api/v1/incidents",
    tag = "incidents",
    summary = "Open an incident",
    description = "Opens an incident, or folds the report into the open incident with the same \
        fingerprint (or, with none given, the same source and title).",
    request_body(content = NewIncident, description = "The incident to open; unknown fields are ignored"),
    responses(
        (status = 201, description = "A new incident", body = CreatedIncident),
        (status = 200, description = "The active (open or acknowledged) incident with the same fingerprint (or, with none, the same source and title), `deduplicated: true`", body = CreatedIncident),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `limits.body_read_timeout_ms`", body = ErrorBody),
        (status = 413, description = "The body is over `body_limit_bytes` (64 KiB by default), counted in bytes: a body within the schema's character bounds can still be over it", body = ErrorBody),
        (status = 422, description = "A field is missing, of the wrong type or out of range", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
        (status = 507, description = "The store is full (`storage.max_size_bytes` or `incidents.max_stored`)", body = ErrorBody),
    )
)]
pub async fn create_incident(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(body_rejection)?;
    let request: NewIncident = serde_json::from_slice(&body).map_err(|e| {
        let status = match e.classify() {
            serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, format!("invalid JSON body: {e}"))
    })?;
    let created = state.manager.create_detached(request).await?;
    let mut value = incident_json(&created.incident);
    value["deduplicated"] = Value::Bool(created.deduplicated);
    let status = if created.deduplicated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(value)).into_response())
}

/// A body that could not be read: `408` when the client did not send it
/// within `limits.body_read_timeout_ms`, else axum's own status (`413` over
/// the body limit, `400` otherwise).
pub(crate) fn body_rejection(rejection: BytesRejection) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the request body was not received in time (limits.body_read_timeout_ms)",
            );
        }
        cause = e.source();
    }
    ApiError::new(rejection.status(), rejection.body_text())
}

/// A path parameter that cannot be read (percent-encoded bytes that are
/// not UTF-8, say): `400` with axum's message, as `{"error": "..."}`.
fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
}

/// `GET /api/v1/incidents/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    tag = "incidents",
    summary = "Read an incident",
    description = "",
    params(IncidentId),
    responses(
        (status = 200, description = "The incident", body = Incident),
        (status = 400, description = "The id cannot be read", body = ErrorBody),
        (status = 404, description = "No incident has this id", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
pub async fn get_incident(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    Ok(Json(incident_json(&state.manager.get(&id)?)))
}

/// The query of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the incidents in this state (all when absent or empty).
    #[param(schema_with = super::openapi::status_filter)]
    status: Option<String>,
    /// The page size: 1 to 1000, 100 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page; the first page when absent
    /// or empty.
    #[param(pattern = "^([0-9a-fA-F]{1,16}\\.[0-9a-fA-F]{1,16})?$")]
    cursor: Option<String>,
}

/// `GET /api/v1/incidents?status=open&limit=N&cursor=C`: one page,
/// `{"incidents": [...], "next_cursor": "..."}`, oldest first;
/// `next_cursor` is there while more remain.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    tag = "incidents",
    summary = "List incidents",
    description = "",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of incidents, oldest first; `next_cursor` while more remain", body = IncidentList),
        (status = 400, description = "A query parameter is not understood", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
    )
)]
pub async fn list_incidents(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))?;
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            bad(format!(
                "status must be open, acknowledged or resolved, not {s:?}"
            ))
        })?),
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(bad(format!(
                    "limit must be a whole number from 1 to {MAX_PAGE}, not {text:?}"
                )));
            }
        },
    };
    let after =
        match query.cursor.as_deref() {
            None | Some("") => None,
            Some(token) => Some(PageCursor::parse(token).ok_or_else(|| {
                bad("cursor is not a next_cursor this service answered".to_owned())
            })?),
        };
    let page = state.manager.list(status, after, limit)?;
    // Serialised straight from the records (no JSON tree in between: a
    // page of large incidents is held once).
    Ok(Json(ListAnswer {
        incidents: &page.incidents,
        next_cursor: page.next.map(PageCursor::encode),
    })
    .into_response())
}

/// The answer of `GET /api/v1/incidents`.
#[derive(serde::Serialize)]
struct ListAnswer<'a> {
    incidents: &'a [Incident],
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `POST /api/v1/incidents/{id}/resolve`.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/resolve",
    tag = "incidents",
    summary = "Resolve an incident",
    description = "",
    params(IncidentId),
    responses(
        (status = 200, description = "The incident, `status: resolved` (again on a resolved one: unchanged)", body = Incident),
        (status = 400, description = "The id cannot be read", body = ErrorBody),
        (status = 404, description = "No incident has this id", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
        (status = 507, description = "The store is full, past its reserve", body = ErrorBody),
    )
)]
pub async fn resolve_incident(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    Ok(Json(incident_json(&state.manager.resolve(&id).await?)))
}

/// `POST /api/v1/incidents/{id}/acknowledge`: `200` with the acknowledged
/// incident (again on an acknowledged one, unchanged), `404`, `409` on a
/// resolved one.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/acknowledge",
    tag = "incidents",
    summary = "Acknowledge an incident",
    description = "A responder took it: it stays active and is no longer escalated.",
    params(IncidentId),
    responses(
        (status = 200, description = "The incident, `status: acknowledged` (again on an acknowledged one: unchanged)", body = Incident),
        (status = 400, description = "The id cannot be read", body = ErrorBody),
        (status = 404, description = "No incident has this id", body = ErrorBody),
        (status = 409, description = "The incident is resolved", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody),
        (status = 507, description = "The store is full, past its reserve", body = ErrorBody),
    )
)]
pub async fn acknowledge_incident(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    Ok(Json(incident_json(&state.manager.acknowledge(&id).await?)))
}

/// `GET /health`.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    summary = "Liveness",
    description = "",
    responses((status = 200, description = "The service is up", body = HealthBody))
)]
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /metrics`: the registry in the format the scraper asks for
/// (Prometheus text 0.0.4 by default, OpenMetrics 1.0 on request, gzip on
/// request), rendered by the toolkit's exporter behind the state's
/// [`Protection`](incident_metrics::exporter::Protection) (`401` without
/// the configured credentials, `503` past the scrape bound or timeout).
///
/// Its OpenAPI path is `/metrics`; [`openapi::document`](super::openapi::document)
/// moves it to the configured endpoint, or drops it when metrics are not
/// served on the API port.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    summary = "Metrics",
    description = "The service's metrics (the path is `[metrics] endpoint`).",
    responses(
        (status = 200, description = "The exposition: Prometheus text 0.0.4 by default; OpenMetrics 1.0 or the protobuf exposition as `Accept` asks; gzipped on `Accept-Encoding: gzip`",
            content(
                (String = "text/plain"),
                (String = "application/openmetrics-text"),
                (String = "application/vnd.google.protobuf"),
            )),
        (status = 401, description = "The configured credentials are missing or wrong", body = String, content_type = "text/plain"),
        (status = 503, description = "Past `max_concurrent_scrapes` or `scrape_timeout_ms`", body = String, content_type = "text/plain"),
    )
)]
pub async fn metrics(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    state
        .protection
        .serve(state.registry, &headers)
        .await
        .map(axum::body::Body::from)
        .into_response()
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}
