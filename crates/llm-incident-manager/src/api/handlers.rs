//! The REST handlers, `/health`, and [`metrics`], the `/metrics` handler.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiState, DEFAULT_PAGE, MAX_PAGE};
use crate::domain::{Incident, IncidentError, NewIncident, Status};
use crate::storage::PageCursor;

/// A REST error: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
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
fn body_rejection(rejection: BytesRejection) -> ApiError {
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
pub async fn get_incident(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    Ok(Json(incident_json(&state.manager.get(&id)?)))
}

/// The query of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// `open`, `acknowledged` or `resolved`.
    status: Option<String>,
    /// The page size: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/v1/incidents?status=open&limit=N&cursor=C`: one page,
/// `{"incidents": [...], "next_cursor": "..."}`, oldest first;
/// `next_cursor` is there while more remain.
pub async fn list_incidents(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
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
        None | Some("") => DEFAULT_PAGE,
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
    let incidents: Vec<Value> = page.incidents.iter().map(incident_json).collect();
    let mut answer = json!({ "incidents": incidents });
    if let Some(next) = page.next {
        answer["next_cursor"] = Value::String(next.encode());
    }
    Ok(Json(answer))
}

/// `POST /api/v1/incidents/{id}/resolve`.
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
pub async fn acknowledge_incident(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(path_rejection)?;
    Ok(Json(incident_json(&state.manager.acknowledge(&id).await?)))
}

/// `GET /health`.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /metrics`: the registry in the format the scraper asks for
/// (Prometheus text 0.0.4 by default, OpenMetrics 1.0 on request, gzip on
/// request), rendered by the toolkit's exporter behind the state's
/// [`Protection`](incident_metrics::exporter::Protection) (`401` without
/// the configured credentials, `503` past the scrape bound or timeout).
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
