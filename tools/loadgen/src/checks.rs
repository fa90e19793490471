//! Scraping the service and checking what its metrics say against what
//! the clients counted.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use incident_metrics_testing::exposition::{self, Exposition, Sample};

use crate::client::{Counts, HttpClient, REQUEST_TIMEOUT, http_call};
use crate::error::LoadgenError;
use crate::target::Target;

/// How long the exact-count check waits for the last recordings to land.
const SETTLE_DEADLINE: Duration = Duration::from_secs(5);

/// A check's outcome.
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

/// One OpenMetrics scrape, gzip-compressed, decoded in full.
pub(crate) async fn scrape_openmetrics_gzip(
    client: &HttpClient,
    url: &str,
) -> Result<String, String> {
    let request = Request::get(url)
        .header(
            http::header::ACCEPT,
            "application/openmetrics-text; version=1.0.0",
        )
        .header(http::header::ACCEPT_ENCODING, "gzip")
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let gzip = response
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip");
    let body = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
        .await
        .map_err(|_| "body timed out".to_owned())?
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(format!("status {status}"));
    }
    if !gzip {
        return Err("answer not gzip-encoded".to_owned());
    }
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .map_err(|e| format!("gzip: {e}"))?;
    if !text.ends_with("# EOF\n") {
        return Err("OpenMetrics answer without # EOF".to_owned());
    }
    Ok(text)
}

/// A plain-text scrape: the status and the body.
pub(crate) async fn scrape_text(
    client: &HttpClient,
    url: &str,
) -> Result<(StatusCode, String), LoadgenError> {
    let err = |message: String| LoadgenError::Scrape {
        url: url.to_owned(),
        message,
    };
    let (status, body) = http_call(client, Method::GET, url.to_owned(), None)
        .await
        .map_err(err)?;
    let text = String::from_utf8(body.to_vec()).map_err(|e| err(e.to_string()))?;
    Ok((status, text))
}

/// The samples whose name ends with `suffix` (any namespace).
fn family<'a>(samples: &'a Exposition, suffix: &'a str) -> impl Iterator<Item = &'a Sample> {
    samples.with_suffix(suffix)
}

/// The value of the label `name`, `""` when absent.
fn label<'a>(sample: &'a Sample, name: &str) -> &'a str {
    sample.label(name).unwrap_or("")
}

/// The non-zero samples of the family `suffix` accepted by `keep`, keyed
/// by `key`.
fn counters<K: Ord>(
    samples: &Exposition,
    suffix: &str,
    keep: impl Fn(&Sample) -> bool,
    key: impl Fn(&Sample) -> K,
) -> BTreeMap<K, u64> {
    let mut found: BTreeMap<K, u64> = family(samples, suffix)
        .filter(|s| keep(s))
        .map(|s| (key(s), s.value as u64))
        .collect();
    found.retain(|_, v| *v > 0);
    found
}

/// Compares the scraped counters with the client's counts; the mismatches.
fn compare(samples: &Exposition, counts: &Counts) -> Vec<String> {
    let mut wrong = Vec::new();
    let owned = |s: &Sample, names: [&str; 2]| names.map(|n| label(s, n).to_owned());
    let http = counters(
        samples,
        "_http_requests_total",
        |_| true,
        |s| {
            let [method, path] = owned(s, ["method", "path"]);
            (method, path, label(s, "status").to_owned())
        },
    );
    if http != counts.http {
        wrong.push(format!(
            "http_requests_total: service {http:?}, client {:?}",
            counts.http
        ));
    }
    let ours = |s: &Sample| label(s, "service") == "incident.v1.IncidentService";
    let grpc = counters(samples, "_grpc_requests_total", ours, |s| {
        let [method, status] = owned(s, ["method", "status"]);
        (method, status)
    });
    if grpc != counts.grpc {
        wrong.push(format!(
            "grpc_requests_total: service {grpc:?}, client {:?}",
            counts.grpc
        ));
    }
    let incidents = counters(
        samples,
        "_incidents_total",
        |_| true,
        |s| {
            let [severity, status] = owned(s, ["severity", "status"]);
            (severity, status)
        },
    );
    if incidents != counts.incidents {
        wrong.push(format!(
            "incidents_total: service {incidents:?}, client {:?}",
            counts.incidents
        ));
    }
    let dedup: f64 = family(samples, "_incidents_deduplicated_total")
        .map(|s| s.value)
        .sum();
    if dedup as u64 != counts.deduplicated {
        wrong.push(format!(
            "incidents_deduplicated_total: service {dedup}, client {}",
            counts.deduplicated
        ));
    }
    wrong
}

/// The gauges that must be back to 0 after the load; the ones that are not.
fn gauges_not_zero(samples: &Exposition) -> Vec<String> {
    let mut wrong = Vec::new();
    for suffix in [
        "_http_requests_in_flight",
        "_grpc_streams_active",
        "_playbooks_active",
        "_notification_queue_size",
    ] {
        for sample in family(samples, suffix).filter(|s| s.value != 0.0) {
            let mut labels = sample.labels.clone();
            labels.sort();
            wrong.push(format!("{suffix}{labels:?} = {}", sample.value));
        }
    }
    wrong
}

/// One look at the service's metrics: the mismatches with `counts`.
fn mismatches(status: StatusCode, text: &str, counts: &Counts) -> Vec<String> {
    if status != StatusCode::OK {
        return vec![format!("/metrics answered {status}")];
    }
    match exposition::parse(text) {
        Ok(samples) => {
            let mut wrong = compare(&samples, counts);
            wrong.extend(gauges_not_zero(&samples));
            wrong
        }
        Err(e) => vec![format!("/metrics is not a well-formed exposition: {e}")],
    }
}

/// Scrapes `target` until its counters equal `counts` and the gauges are 0
/// (the last recordings may land just after the client saw its answer), up
/// to [`SETTLE_DEADLINE`]; the mismatches left.
pub(crate) async fn check_counts(
    target: &Target,
    counts: &Counts,
) -> Result<Vec<String>, LoadgenError> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let url = format!("http://{}/metrics", target.http);
    let deadline = Instant::now() + SETTLE_DEADLINE;
    loop {
        let (status, text) = scrape_text(&client, &url).await?;
        let mut wrong = mismatches(status, &text, counts);
        if wrong.is_empty() || Instant::now() >= deadline {
            if counts.failures > 0 {
                wrong.push(format!(
                    "{} client requests failed; the first: {}",
                    counts.failures,
                    counts.first_failure.as_deref().unwrap_or("?")
                ));
            }
            return Ok(wrong);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> Counts {
        let mut counts = Counts::default();
        counts
            .http
            .insert(("POST".into(), "/api/v1/incidents".into(), "201".into()), 2);
        counts
            .grpc
            .insert(("GetIncident".into(), "NOT_FOUND".into()), 1);
        counts.incidents.insert(("low".into(), "open".into()), 2);
        counts.deduplicated = 1;
        counts
    }

    const TEXT: &str = "\
# TYPE ns_http_requests_total counter
ns_http_requests_total{method=\"POST\",path=\"/api/v1/incidents\",status=\"201\"} 2
ns_http_requests_total{method=\"GET\",path=\"/api/v1/incidents\",status=\"200\"} 0
ns_grpc_requests_total{service=\"incident.v1.IncidentService\",method=\"GetIncident\",status=\"NOT_FOUND\"} 1
ns_grpc_requests_total{service=\"grpc.health.v1.Health\",method=\"Check\",status=\"OK\"} 5
ns_incidents_total{status=\"open\",severity=\"low\"} 2
ns_incidents_deduplicated_total 1
ns_http_requests_in_flight 0
ns_playbooks_active{kind=\"x\"} 0
";

    #[test]
    fn the_service_agrees_with_the_client() {
        assert_eq!(
            mismatches(StatusCode::OK, TEXT, &counts()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_disagreement_is_named() {
        let text = TEXT
            .replace(
                "} 2\nns_http_requests_total{method=\"GET\"",
                "} 3\nns_http_requests_total{method=\"GET\"",
            )
            .replace(
                "ns_incidents_deduplicated_total 1",
                "ns_incidents_deduplicated_total 0",
            )
            .replace(
                "ns_playbooks_active{kind=\"x\"} 0",
                "ns_playbooks_active{kind=\"x\"} 1",
            );
        let wrong = mismatches(StatusCode::OK, &text, &counts());
        assert_eq!(wrong.len(), 3, "{wrong:?}");
        assert!(
            wrong[0].starts_with("http_requests_total: service "),
            "{wrong:?}"
        );
        assert!(wrong[1].starts_with("incidents_deduplicated_total: service 0, client 1"));
        assert_eq!(wrong[2], "_playbooks_active[(\"kind\", \"x\")] = 1");
        let wrong = mismatches(StatusCode::OK, "ns_up{ 1\n", &counts());
        assert!(wrong[0].starts_with("/metrics is not a well-formed exposition: line 1: "));
        let wrong = mismatches(StatusCode::NOT_FOUND, "", &counts());
        assert_eq!(wrong, vec!["/metrics answered 404 Not Found".to_owned()]);
    }
}
