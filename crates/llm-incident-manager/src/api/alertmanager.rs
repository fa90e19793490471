//! `POST /api/v1/alerts/alertmanager`: the receiver of Alertmanager's
//! webhook (payload version 4).
//!
//! Each firing alert opens an incident, or folds into the active incident
//! of the same alert fingerprint (Alertmanager's re-sends and repeat
//! notifications fold there); each resolved alert resolves the active
//! incident of its fingerprint. Every alert is committed to the store before
//! the answer, so a `200` means none of them can be lost, and a webhook cut
//! short (a crash, a `5xx`) is sent again by Alertmanager and changes
//! nothing twice.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use incident_metrics::catalog::alert::AlertStatus;
use serde::Serialize;
use serde_json::{Map, Value};

use super::ApiState;
use super::handlers::{ApiError, body_rejection};
use crate::config::AlertmanagerConfig;
use crate::domain::{
    MAX_DESCRIPTION_CHARS, MAX_FIELD_CHARS, MAX_TITLE_CHARS, Origin, Severity, ValidIncident,
};

/// The route.
pub const PATH: &str = "/api/v1/alerts/alertmanager";

/// The incident `source` of every alert's incident.
pub const SOURCE: &str = "alertmanager";

/// What the receiver needs besides the manager: the mapping, the bounds
/// and the token.
#[derive(Clone, Debug)]
pub struct AlertIntake {
    config: AlertmanagerConfig,
    guard: Option<incident_metrics::exporter::Protection>,
}

impl AlertIntake {
    /// The receiver of `config`; `token` (from
    /// [`AlertmanagerConfig::bearer_token`]) is required of every request
    /// when given.
    ///
    /// # Errors
    ///
    /// When the token cannot be used (the exporter's own check).
    pub fn new(
        config: AlertmanagerConfig,
        token: Option<&str>,
    ) -> Result<Self, incident_metrics::exporter::Error> {
        use incident_metrics::exporter::{AuthConfig, Protection, ServerConfig};
        let guard = match token {
            Some(token) => Some(Protection::from_config(
                &ServerConfig::new().with_auth(Some(AuthConfig::bearer(token))),
            )?),
            None => None,
        };
        Ok(Self { config, guard })
    }

    /// The configuration.
    pub fn config(&self) -> &AlertmanagerConfig {
        &self.config
    }
}

/// One alert of a webhook, as read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Alert {
    /// Firing or resolved.
    pub(crate) status: AlertStatus,
    /// The incident it opens (firing) or whose fingerprint it resolves.
    pub(crate) incident: ValidIncident,
}

/// A webhook, as read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Webhook {
    /// The Alertmanager receiver.
    pub(crate) receiver: String,
    /// The alerts Alertmanager left out (`truncatedAlerts`).
    pub(crate) truncated: u64,
    /// The alerts, in the payload's order.
    pub(crate) alerts: Vec<Alert>,
}

/// Why a payload was refused: a `400` naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PayloadError {
    /// The field, as a path (`alerts[3].labels`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
    /// Whether the payload is only too large (more alerts than
    /// `max_alerts`): a `413` rather than a `400`.
    pub too_large: bool,
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> PayloadError {
    PayloadError {
        field: field.into(),
        reason: reason.into(),
        too_large: false,
    }
}

/// A field that may be absent or `null` (Go's nil map marshals as `null`).
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, PayloadError> {
    match present(object, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("{path}{key}"), "must be a string")),
    }
}

fn required_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, PayloadError> {
    string(object, key, path)?.ok_or_else(|| bad(format!("{path}{key}"), "is required"))
}

fn status(object: &Map<String, Value>, path: &str) -> Result<AlertStatus, PayloadError> {
    match required_string(object, "status", path)? {
        "firing" => Ok(AlertStatus::Firing),
        "resolved" => Ok(AlertStatus::Resolved),
        other => Err(bad(
            format!("{path}status"),
            format!("must be \"firing\" or \"resolved\", not {other:?}"),
        )),
    }
}

/// A map of strings (labels, annotations); absent or `null` is empty.
fn string_map(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<BTreeMap<String, String>, PayloadError> {
    match present(object, key) {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad(format!("{path}{key}.{k}"), "must be a string")),
            })
            .collect(),
        Some(_) => Err(bad(format!("{path}{key}"), "must be an object of strings")),
    }
}

/// A JSON number that is a whole number from 0 to `i64::MAX` (the
/// schema's `int64`), written as an integer or as a float like `3.0`.
fn whole_number(v: &Value) -> Option<u64> {
    let n = v.as_u64().or_else(|| {
        let f = v.as_f64()?;
        // Below 2^63, so the conversion is exact for every whole float.
        (f >= 0.0 && f.fract() == 0.0 && f < 9_223_372_036_854_775_808.0)
            .then(|| format!("{f:.0}").parse().ok())
            .flatten()
    })?;
    (i64::try_from(n).is_ok()).then_some(n)
}

/// The first `max` characters of `s`.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_owned(),
        None => s.to_owned(),
    }
}

/// Alertmanager's own fingerprint of a label set (Prometheus's
/// `model.LabelSet.Fingerprint`: FNV-1a 64 over the names and values in
/// name order, each followed by the byte 0xff), in its 16-digit hex form:
/// for a payload that carries no `fingerprint`.
pub fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    if labels.is_empty() {
        return format!("{OFFSET:016x}");
    }
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    format!("{hash:016x}")
}

impl AlertIntake {
    /// Reads a webhook body: the fields this receiver uses are checked, the
    /// others ignored; at most `max_alerts` alerts.
    ///
    /// # Errors
    ///
    /// [`PayloadError`] naming the first bad field.
    pub(crate) fn read(&self, body: &[u8]) -> Result<Webhook, PayloadError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| bad("body", format!("is not JSON: {e}")))?;
        let Value::Object(root) = value else {
            return Err(bad(
                "body",
                "must be a JSON object (Alertmanager's webhook payload)",
            ));
        };
        match required_string(&root, "version", "")? {
            "4" => {}
            other => {
                return Err(bad(
                    "version",
                    format!(
                        "must be \"4\" (Alertmanager's webhook payload version), not {other:?}"
                    ),
                ));
            }
        }
        let receiver = required_string(&root, "receiver", "")?;
        if receiver.is_empty() {
            return Err(bad("receiver", "must not be empty"));
        }
        status(&root, "")?;
        for key in ["groupKey", "externalURL"] {
            string(&root, key, "")?;
        }
        for key in ["groupLabels", "commonLabels", "commonAnnotations"] {
            string_map(&root, key, "")?;
        }
        let truncated = match present(&root, "truncatedAlerts") {
            None => 0,
            Some(v) => whole_number(v)
                .ok_or_else(|| bad("truncatedAlerts", "must be a whole number, 0 or more"))?,
        };
        let alerts = match root.get("alerts") {
            Some(Value::Array(alerts)) => alerts,
            Some(_) => return Err(bad("alerts", "must be an array")),
            None => return Err(bad("alerts", "is required")),
        };
        let max = self.config.max_alerts;
        if alerts.len() > max {
            return Err(PayloadError {
                too_large: true,
                ..bad(
                    "alerts",
                    format!(
                        "holds {} alerts, over alertmanager.max_alerts = {max}; \
                         set max_alerts in Alertmanager's webhook_config at or below it",
                        alerts.len()
                    ),
                )
            });
        }
        let alerts = alerts
            .iter()
            .enumerate()
            .map(|(i, alert)| self.read_alert(i, alert))
            .collect::<Result<_, _>>()?;
        Ok(Webhook {
            receiver: receiver.to_owned(),
            truncated,
            alerts,
        })
    }

    fn read_alert(&self, i: usize, alert: &Value) -> Result<Alert, PayloadError> {
        let path = format!("alerts[{i}].");
        let Value::Object(alert) = alert else {
            return Err(bad(format!("alerts[{i}]"), "must be an object"));
        };
        let status = status(alert, &path)?;
        if present(alert, "labels").is_none() {
            return Err(bad(format!("{path}labels"), "is required"));
        }
        let labels = string_map(alert, "labels", &path)?;
        let annotations = string_map(alert, "annotations", &path)?;
        for key in ["startsAt", "endsAt"] {
            string(alert, key, &path)?;
        }
        let generator_url = string(alert, "generatorURL", &path)?
            .filter(|u| !u.is_empty())
            .map(|u| truncate(u, MAX_DESCRIPTION_CHARS));
        let fingerprint = match string(alert, "fingerprint", &path)? {
            Some(fp) if fp.chars().count() > MAX_FIELD_CHARS => {
                return Err(bad(
                    format!("{path}fingerprint"),
                    format!("must be at most {MAX_FIELD_CHARS} characters"),
                ));
            }
            Some(fp) if !fp.is_empty() => fp.to_owned(),
            _ => label_fingerprint(&labels),
        };
        let severity = self
            .config
            .severity_for(labels.get(&self.config.severity_label).map(String::as_str));
        let title = title(&labels, &annotations, &fingerprint);
        let description = annotations
            .get("description")
            .map(|d| truncate(d, MAX_DESCRIPTION_CHARS))
            .unwrap_or_default();
        Ok(Alert {
            status,
            incident: ValidIncident {
                title,
                description,
                severity,
                source: SOURCE.to_owned(),
                fingerprint: Some(fingerprint),
                origin: Origin::Alertmanager,
                labels,
                generator_url,
            },
        })
    }
}

/// `alertname: summary`, either alone, or `alert <fingerprint>`; at most
/// [`MAX_TITLE_CHARS`] characters.
fn title(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    fingerprint: &str,
) -> String {
    let name = labels
        .get("alertname")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let summary = annotations
        .get("summary")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let title = match (name, summary) {
        (Some(name), Some(summary)) => format!("{name}: {summary}"),
        (Some(one), None) | (None, Some(one)) => one.to_owned(),
        (None, None) => format!("alert {fingerprint}"),
    };
    truncate(&title, MAX_TITLE_CHARS)
}

/// The answer to a webhook.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct WebhookAnswer {
    /// Alerts in the webhook.
    pub received: usize,
    /// Ids of the incidents firing alerts opened.
    pub opened: Vec<String>,
    /// Ids of the active incidents firing alerts folded into.
    pub deduplicated: Vec<String>,
    /// Ids of the incidents resolved alerts resolved.
    pub resolved: Vec<String>,
}

/// Alertmanager's webhook payload, version 4: the fields this receiver
/// reads (the others are ignored).
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = AlertmanagerWebhook)]
#[allow(
    dead_code,
    reason = "the OpenAPI schema of the payload; read by AlertIntake::read"
)]
pub struct WebhookSchema {
    /// Always `"4"`.
    #[schema(pattern = "^4$")]
    version: String,
    /// The Alertmanager receiver that sent it.
    #[schema(min_length = 1)]
    receiver: String,
    /// `firing` or `resolved`, for the group.
    #[schema(pattern = "^(firing|resolved)$")]
    status: String,
    /// The alerts (at most `alertmanager.max_alerts`).
    alerts: Vec<AlertSchema>,
    /// Alerts Alertmanager left out (its `max_alerts`).
    #[schema(minimum = 0)]
    #[serde(rename = "truncatedAlerts")]
    truncated_alerts: Option<i64>,
    /// Alertmanager's group key.
    #[serde(rename = "groupKey")]
    group_key: Option<String>,
    /// Alertmanager's URL.
    #[serde(rename = "externalURL")]
    external_url: Option<String>,
    /// The group's labels.
    #[serde(rename = "groupLabels")]
    group_labels: Option<BTreeMap<String, String>>,
    /// Labels every alert shares.
    #[serde(rename = "commonLabels")]
    common_labels: Option<BTreeMap<String, String>>,
    /// Annotations every alert shares.
    #[serde(rename = "commonAnnotations")]
    common_annotations: Option<BTreeMap<String, String>>,
}

/// One alert of [`WebhookSchema`].
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = AlertmanagerAlert)]
#[allow(
    dead_code,
    reason = "the OpenAPI schema of an alert; read by AlertIntake::read"
)]
pub struct AlertSchema {
    /// `firing` or `resolved`.
    #[schema(pattern = "^(firing|resolved)$")]
    status: String,
    /// The alert's labels: `alertname` and the severity label are read.
    labels: BTreeMap<String, String>,
    /// `summary` and `description` are read.
    annotations: Option<BTreeMap<String, String>>,
    /// When it started firing.
    #[serde(rename = "startsAt")]
    starts_at: Option<String>,
    /// When it ended.
    #[serde(rename = "endsAt")]
    ends_at: Option<String>,
    /// The expression's URL, kept on the incident.
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
    /// Alertmanager's fingerprint of the labels; computed from them when
    /// absent.
    #[schema(max_length = 256)]
    fingerprint: Option<String>,
}

/// `POST /api/v1/alerts/alertmanager`.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/alertmanager",
    tag = "alerts",
    summary = "Receive Alertmanager's webhook",
    description = "Alertmanager's webhook payload, version 4. Each firing alert opens an incident \
        (source `alertmanager`) or folds into the active incident of the same alert fingerprint; \
        each resolved alert resolves it. Every alert is stored before the answer.",
    request_body(content = WebhookSchema, description = "Alertmanager's webhook payload; unknown fields are ignored"),
    responses(
        (status = 200, description = "Every alert is stored", body = WebhookAnswer),
        (status = 400, description = "The payload is not Alertmanager's webhook, version 4: the message names the field", body = super::openapi::ErrorBody),
        (status = 401, description = "`alertmanager.bearer_token_file` is set and the request does not present its token", body = super::openapi::ErrorBody),
        (status = 408, description = "The body did not arrive within `limits.body_read_timeout_ms`", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is over `alertmanager.body_limit_bytes` (4 MiB by default), or holds more alerts than `alertmanager.max_alerts` (1000 by default)", body = super::openapi::ErrorBody),
        (status = 500, description = "The store failed; Alertmanager sends the webhook again", body = super::openapi::ErrorBody),
        (status = 507, description = "The store is full; Alertmanager sends the webhook again", body = super::openapi::ErrorBody),
    )
)]
pub async fn receive(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let intake = &state.alerts;
    if let Some(guard) = &intake.guard
        && !guard.is_authorized(&headers)
    {
        let mut response = ApiError::status(
            StatusCode::UNAUTHORIZED,
            "this receiver needs the bearer token of alertmanager.bearer_token_file",
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"alertmanager\""),
        );
        return Ok(response);
    }
    let body = body.map_err(body_rejection)?;
    let webhook = intake.read(&body).map_err(|e| {
        let status = if e.too_large {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::status(status, e.to_string())
    })?;
    let trackers = state.manager.telemetry();
    if webhook.truncated > 0 {
        eprintln!(
            "warning: Alertmanager receiver {:?} left {} alerts out of a webhook (its \
             max_alerts): they open no incident until a later webhook carries them",
            webhook.receiver, webhook.truncated
        );
        trackers
            .alerts
            .truncated(&webhook.receiver, webhook.truncated);
    }
    let mut answer = WebhookAnswer {
        received: webhook.alerts.len(),
        ..WebhookAnswer::default()
    };
    for alert in webhook.alerts {
        match alert.status {
            AlertStatus::Firing => {
                let created = state.manager.open_alert(alert.incident).await?;
                let ids = if created.deduplicated {
                    &mut answer.deduplicated
                } else {
                    &mut answer.opened
                };
                ids.push(created.incident.id);
            }
            AlertStatus::Resolved => {
                let fingerprint = alert.incident.fingerprint.unwrap_or_default();
                if let Some(incident) = state.manager.resolve_alert(&fingerprint).await? {
                    answer.resolved.push(incident.id);
                }
            }
        }
        trackers.alerts.received(&webhook.receiver, alert.status);
    }
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// The severity each default label value maps to, for the docs' table.
pub fn default_mapping() -> impl Iterator<Item = (&'static str, Severity)> {
    AlertmanagerConfig::DEFAULT_SEVERITIES.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intake() -> AlertIntake {
        AlertIntake::new(AlertmanagerConfig::default(), None).unwrap()
    }

    fn payload(alerts: Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"X\"}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "oncall",
            "groupLabels": {"alertname": "X"},
            "commonLabels": {"alertname": "X"},
            "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093",
            "alerts": alerts,
        }))
        .unwrap()
    }

    #[test]
    fn reads_a_firing_alert_with_its_mapping() {
        let body = payload(serde_json::json!([{
            "status": "firing",
            "labels": {"alertname": "DiskFull", "severity": "warning", "instance": "a"},
            "annotations": {"summary": "Disk is full", "description": "95% used"},
            "startsAt": "2026-12-03T08:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x",
            "fingerprint": "0123456789abcdef"
        }]));
        let webhook = intake().read(&body).unwrap();
        assert_eq!(webhook.receiver, "oncall");
        let alert = &webhook.alerts[0];
        assert_eq!(alert.status, AlertStatus::Firing);
        let i = &alert.incident;
        assert_eq!(i.title, "DiskFull: Disk is full");
        assert_eq!(i.description, "95% used");
        assert_eq!(i.severity, Severity::Medium);
        assert_eq!(i.source, "alertmanager");
        assert_eq!(i.origin, Origin::Alertmanager);
        assert_eq!(i.fingerprint.as_deref(), Some("0123456789abcdef"));
        assert_eq!(i.labels["instance"], "a");
        assert_eq!(
            i.generator_url.as_deref(),
            Some("http://127.0.0.1:9090/graph?g0.expr=x")
        );
        assert_eq!(i.dedup_key(), "am:0123456789abcdef");
    }

    #[test]
    fn severity_mapping_defaults_and_overrides() {
        let mut config = AlertmanagerConfig::default();
        for (value, severity) in [
            ("critical", Severity::Critical),
            ("error", Severity::High),
            ("warning", Severity::Medium),
            ("info", Severity::Info),
            ("WARNING", Severity::Medium),
            ("page", Severity::Medium),
        ] {
            assert_eq!(config.severity_for(Some(value)), severity, "{value}");
        }
        assert_eq!(config.severity_for(None), Severity::Medium);
        config
            .severities
            .insert("page".to_owned(), Severity::Critical);
        config.default_severity = Severity::Low;
        assert_eq!(config.severity_for(Some("page")), Severity::Critical);
        assert_eq!(config.severity_for(Some("whatever")), Severity::Low);
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let intake = intake();
        let field = |body: &[u8]| intake.read(body).unwrap_err().field;
        assert_eq!(field(b"[]"), "body");
        assert_eq!(field(b"{"), "body");
        assert_eq!(
            field(br#"{"receiver":"r","status":"firing","alerts":[]}"#),
            "version"
        );
        assert_eq!(
            field(br#"{"version":"3","receiver":"r","status":"firing","alerts":[]}"#),
            "version"
        );
        assert_eq!(
            field(br#"{"version":"4","receiver":"r","status":"firing"}"#),
            "alerts"
        );
        assert_eq!(
            field(&payload(serde_json::json!([{"status": "firing"}]))),
            "alerts[0].labels"
        );
        assert_eq!(
            field(&payload(serde_json::json!([
                {"status": "firing", "labels": {}},
                {"status": "pending", "labels": {}}
            ]))),
            "alerts[1].status"
        );
        assert_eq!(
            field(&payload(
                serde_json::json!([{"status": "firing", "labels": {"a": 1}}])
            )),
            "alerts[0].labels.a"
        );
        let mut over = serde_json::from_slice::<Value>(&payload(serde_json::json!([]))).unwrap();
        over["truncatedAlerts"] = Value::from(-1);
        assert_eq!(
            field(&serde_json::to_vec(&over).unwrap()),
            "truncatedAlerts"
        );
    }

    #[test]
    fn null_maps_and_without_notification_reason_are_read() {
        let body = serde_json::to_vec(&serde_json::json!({
            "version": "4",
            "status": "resolved",
            "receiver": "r",
            "groupLabels": null,
            "commonLabels": null,
            "commonAnnotations": null,
            "alerts": [{"status": "resolved", "labels": {"alertname": "X"}, "annotations": null}],
        }))
        .unwrap();
        let webhook = intake().read(&body).unwrap();
        assert_eq!(webhook.alerts[0].status, AlertStatus::Resolved);
        assert_eq!(webhook.alerts[0].incident.title, "X");
    }

    #[test]
    fn too_many_alerts_are_refused() {
        let config = AlertmanagerConfig {
            max_alerts: 2,
            ..AlertmanagerConfig::default()
        };
        let intake = AlertIntake::new(config, None).unwrap();
        let alert = serde_json::json!({"status": "firing", "labels": {"alertname": "X"}});
        let e = intake
            .read(&payload(Value::Array(vec![alert; 3])))
            .unwrap_err();
        assert_eq!(e.field, "alerts");
        assert!(e.too_large);
        assert!(e.reason.contains("max_alerts"), "{e}");
    }

    /// The fingerprints Prometheus's `model.LabelSet.Fingerprint` gives
    /// (from its own tests, `labelset_test.go`/`signature_test.go`).
    #[test]
    fn label_fingerprints_match_prometheus() {
        assert_eq!(label_fingerprint(&BTreeMap::new()), "cbf29ce484222325");
        let labels: BTreeMap<String, String> =
            [("name", "garland, briggs"), ("fear", "love is not enough")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        assert_eq!(
            u64::from_str_radix(&label_fingerprint(&labels), 16).unwrap(),
            5_799_056_148_416_392_346
        );
    }

    #[test]
    fn titles() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(title(&map(&[("alertname", "A")]), &map(&[]), "f"), "A");
        assert_eq!(title(&map(&[]), &map(&[("summary", "S")]), "f"), "S");
        assert_eq!(title(&map(&[]), &map(&[]), "f"), "alert f");
        let long = "x".repeat(400);
        assert_eq!(
            title(&map(&[("alertname", &long)]), &map(&[]), "f")
                .chars()
                .count(),
            MAX_TITLE_CHARS
        );
    }
}
