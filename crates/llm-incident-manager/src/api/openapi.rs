//! The OpenAPI 3.1 document of the REST API, generated with `utoipa` from
//! the handlers' annotations ([`super::handlers`]) and the types
//! they read and answer ([`NewIncident`], [`Incident`], [`Severity`],
//! [`Status`], and the answer shapes below), served at
//! `GET /api/v1/openapi.json`.
//!
//! To describe a new route: annotate its handler with `#[utoipa::path(...)]`
//! (method, path, `params`, `request_body`, one `responses` line per
//! status, errors as [`ErrorBody`]) and add the handler to `paths(...)` of
//! [`ApiDoc`]; a new answer shape derives `utoipa::ToSchema` and goes into
//! `components(schemas(...))`. A new query parameter is a field of the
//! handler's `IntoParams` struct; a new enum value appears by itself.

use axum::Json;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use utoipa::OpenApi;

use super::handlers;
use crate::domain::{Incident, NewIncident, Severity, Status};

/// The path of the document.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The REST API's document, before the metrics endpoint is placed (see
/// [`document`]).
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "LLM Incident Manager REST API",
        description = "The REST API of the LLM Incident Manager, the reference service of the \
            incident-metrics toolkit. Every error answers `{\"error\": \"...\"}` with the status \
            given.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        handlers::create_incident,
        handlers::list_incidents,
        handlers::get_incident,
        handlers::resolve_incident,
        handlers::acknowledge_incident,
        super::alertmanager::receive,
        handlers::health,
        handlers::metrics,
        openapi_json,
    ),
    components(schemas(
        Incident,
        NewIncident,
        Severity,
        Status,
        CreatedIncident,
        IncidentList,
        ErrorBody,
        HealthBody,
        super::alertmanager::WebhookSchema,
        super::alertmanager::AlertSchema,
        super::alertmanager::WebhookAnswer,
    )),
    tags(
        (name = "incidents", description = "Open, read, list and resolve incidents"),
        (name = "alerts", description = "Alertmanager's webhook: alerts open and resolve incidents"),
        (name = "service", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Every error's body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, and what to change.
    pub error: String,
}

/// The answer to a create: the incident, and whether it was an open
/// duplicate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedIncident {
    /// The incident.
    #[serde(flatten)]
    pub incident: Incident,
    /// True when the request folded into an open incident (status `200`).
    pub deduplicated: bool,
}

/// The answer to a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentList {
    /// One page of incidents, oldest first.
    pub incidents: Vec<Incident>,
    /// The `cursor` of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The answer of `/health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthBody {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    pub status: String,
}

/// The `{id}` path parameter.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IncidentId {
    /// The incident's id, as the create answered it.
    #[allow(dead_code, reason = "read by the OpenAPI derive only")]
    id: String,
}

/// The schema of a `status` filter: a [`Status`], or empty for all.
pub fn status_filter() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::Ref;
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(Ref::from_schema_name("Status"))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([""])),
            )
            .build(),
    )
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "service",
    summary = "This document",
    description = "",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object))
)]
#[allow(
    dead_code,
    reason = "a description only: the route serves the rendered bytes"
)]
async fn openapi_json() -> Json<serde_json::Value> {
    Json(serde_json::Value::Null)
}

/// The document for a service whose metrics endpoint is `metrics_endpoint`
/// on the API port, or `None` when `/metrics` is not served there (metrics
/// off, or on a port of their own).
pub fn document(metrics_endpoint: Option<&str>) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let paths = &mut doc.paths.paths;
    if let Some(item) = paths.shift_remove("/metrics")
        && let Some(endpoint) = metrics_endpoint
    {
        paths.insert(endpoint.to_owned(), item);
    }
    doc
}

/// The document rendered once, as JSON bytes.
#[derive(Clone, Debug)]
pub struct RenderedDocument(Bytes);

impl RenderedDocument {
    /// Renders [`document`].
    pub fn new(metrics_endpoint: Option<&str>) -> Self {
        // Serializing a document of plain maps and strings cannot fail.
        Self(Bytes::from(
            serde_json::to_vec(&document(metrics_endpoint)).unwrap_or_default(),
        ))
    }

    /// The JSON bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

impl IntoResponse for RenderedDocument {
    fn into_response(self) -> Response {
        ([(CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(doc: &utoipa::openapi::OpenApi) -> Vec<&str> {
        doc.paths.paths.keys().map(String::as_str).collect()
    }

    #[test]
    fn the_metrics_path_follows_the_endpoint() {
        let doc = document(Some("/metrics"));
        assert!(paths(&doc).contains(&"/metrics"));
        let doc = document(Some("/internal/prom"));
        assert!(paths(&doc).contains(&"/internal/prom"));
        assert!(!paths(&doc).contains(&"/metrics"));
        let doc = document(None);
        assert!(!paths(&doc).contains(&"/metrics"));
        assert!(matches!(
            doc.openapi,
            utoipa::openapi::OpenApiVersion::Version31
        ));
    }

    /// The characters a `[^...]` class of single characters, `\\t`-style
    /// escapes, `\\uXXXX` escapes and `a-b` ranges leaves out.
    fn excluded(pattern: &str) -> Vec<(char, char)> {
        let class = pattern
            .strip_prefix("[^")
            .and_then(|p| p.strip_suffix(']'))
            .unwrap();
        let mut chars = class.chars().peekable();
        let mut singles = Vec::new();
        while let Some(c) = chars.next() {
            let c = if c == '\\' {
                match chars.next().unwrap() {
                    't' => '\t',
                    'n' => '\n',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap()
                    }
                    other => panic!("escape {other}"),
                }
            } else {
                c
            };
            singles.push(c);
        }
        // Fold `a - b` triples into ranges.
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < singles.len() {
            if singles.get(i + 1) == Some(&'-') && i + 2 < singles.len() {
                ranges.push((singles[i], singles[i + 2]));
                i += 3;
            } else {
                ranges.push((singles[i], singles[i]));
                i += 1;
            }
        }
        ranges
    }

    #[test]
    fn not_blank_means_what_trim_means() {
        let doc = serde_json::to_value(document(None)).unwrap();
        for field in ["title", "source"] {
            let pattern =
                doc["components"]["schemas"]["NewIncident"]["properties"][field]["pattern"]
                    .as_str()
                    .unwrap();
            let ranges = excluded(pattern);
            for c in (0..=0x10_ffff).filter_map(char::from_u32) {
                let in_class = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c));
                assert_eq!(in_class, c.is_whitespace(), "{field}: {c:?}");
            }
        }
    }

    #[test]
    fn the_document_renders_as_json() {
        let rendered = RenderedDocument::new(Some("/metrics"));
        let value: serde_json::Value = serde_json::from_slice(rendered.bytes()).unwrap();
        assert_eq!(value["openapi"], "3.1.0");
        assert_eq!(
            value["components"]["schemas"]["Severity"]["enum"],
            serde_json::json!(["critical", "high", "medium", "low", "info"])
        );
        // The create body names its bounds as the validation does.
        let title = &value["components"]["schemas"]["NewIncident"]["properties"]["title"];
        assert_eq!(title["maxLength"], 256);
        assert_eq!(title["minLength"], 1);
    }
}
