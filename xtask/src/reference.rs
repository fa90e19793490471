//! `docs/metrics.md`: the metrics reference, generated from the catalog's
//! [`FAMILIES`], the remote-write
//! sender's families and what the runtime collector renders, plus the
//! descriptions of [`crate::table`].

use std::fmt::{self, Write as _};

use incident_metrics_catalog::genai::GENAI_EQUIVALENTS;
use incident_metrics_catalog::{Catalog, FAMILIES};
use incident_metrics_core::prometheus_client::encoding::text::encode;
use incident_metrics_core::{
    DEFAULT_CARDINALITY_LIMIT, DEFAULT_NAMESPACE, FamilySpec, MetricsConfig, Registry,
};
use incident_metrics_exporter::{REMOTE_WRITE_FAMILIES, REMOTE_WRITE_NATIVE_HISTOGRAMS_DROPPED};
use incident_metrics_trackers::{OVERFLOW_VALUE, RuntimeCollector, TrackerConfig};

use crate::table::{Domain, family_doc, label_doc};

/// The path of the reference, relative to the workspace root.
pub const REFERENCE_PATH: &str = "docs/metrics.md";

/// The command that regenerates the reference.
pub const REGENERATE: &str = "cargo run -p xtask -- metrics-reference";

/// Why the reference could not be generated.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<fmt::Error> for Error {
    fn from(_: fmt::Error) -> Self {
        Self("formatting failed".to_owned())
    }
}

impl From<incident_metrics_core::Error> for Error {
    fn from(e: incident_metrics_core::Error) -> Self {
        Self(e.to_string())
    }
}

/// A family the runtime collector renders at scrape time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectedFamily {
    /// The full family name (OpenMetrics form: counters without `_total`).
    pub name: String,
    /// `counter` or `gauge`.
    pub kind: String,
    /// The unit, if announced.
    pub unit: Option<String>,
    /// The help text, without the final period.
    pub help: String,
}

impl CollectedFamily {
    /// The sample name as scraped.
    pub fn sample_name(&self) -> String {
        if self.kind == "counter" {
            format!("{}_total", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// The families the runtime collector (process and tokio) renders under
/// the default namespace, read from its own rendering.
///
/// # Errors
///
/// When the tokio runtime cannot be built or the rendering fails.
pub fn runtime_families() -> Result<Vec<CollectedFamily>, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Error(format!("cannot build a tokio runtime: {e}")))?;
    let mut registry = Registry::new(&MetricsConfig::new())?;
    RuntimeCollector::new()
        .with_tokio(runtime.handle().clone())
        .register(&mut registry);
    let mut text = String::new();
    encode(&mut text, registry.as_prometheus())?;
    let mut families: Vec<CollectedFamily> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# ") else {
            continue;
        };
        let mut parts = rest.splitn(3, ' ');
        let (Some(what), Some(name), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let index = match families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                families.push(CollectedFamily {
                    name: name.to_owned(),
                    kind: String::new(),
                    unit: None,
                    help: String::new(),
                });
                families.len() - 1
            }
        };
        let family = &mut families[index];
        match what {
            "HELP" => family.help = value.trim_end_matches('.').to_owned(),
            "TYPE" => family.kind = value.to_owned(),
            "UNIT" => family.unit = Some(value.to_owned()),
            _ => {}
        }
    }
    Ok(families)
}

/// The remote-write sender's families: the six it always registers, then
/// the one it registers with `native_histograms` on.
fn remote_write_families() -> impl Iterator<Item = &'static FamilySpec> {
    REMOTE_WRITE_FAMILIES
        .iter()
        .chain(std::iter::once(&REMOTE_WRITE_NATIVE_HISTOGRAMS_DROPPED))
}

/// Every sample name a scrape of the service can contain under the default
/// namespace: the catalog's, the remote-write sender's and the runtime
/// collector's.
///
/// # Errors
///
/// As [`runtime_families`].
pub fn sample_names() -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    for spec in FAMILIES.iter().copied().chain(remote_write_families()) {
        names.extend(spec.sample_names(DEFAULT_NAMESPACE));
    }
    for family in runtime_families()? {
        names.push(family.sample_name());
    }
    Ok(names)
}

/// Checks that every family and every label of the catalog and the
/// remote-write sender has a description in [`crate::table`].
///
/// # Errors
///
/// One line per family or label without a description.
pub fn check_descriptions() -> Result<(), Error> {
    let mut missing = Vec::new();
    for spec in FAMILIES.iter().copied().chain(remote_write_families()) {
        if family_doc(spec.name).is_none() {
            missing.push(format!(
                "family `{}` has no entry in xtask/src/table.rs FAMILY_DOCS",
                spec.name
            ));
        }
        for label in spec.labels {
            if label_doc(spec.name, label).is_none() {
                missing.push(format!(
                    "label `{label}` of family `{}` has no entry in xtask/src/table.rs LABEL_DOCS",
                    spec.name
                ));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error(missing.join("\n")))
    }
}

fn sample_list(spec: &FamilySpec) -> String {
    spec.sample_names(DEFAULT_NAMESPACE)
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main_name(spec: &FamilySpec) -> String {
    spec.sample_names(DEFAULT_NAMESPACE)
        .into_iter()
        .next()
        .unwrap_or_else(|| spec.full_name(DEFAULT_NAMESPACE))
        .trim_end_matches("_bucket")
        .to_owned()
}

fn labels_list(labels: &[&str]) -> String {
    if labels.is_empty() {
        "none".to_owned()
    } else {
        labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn domain_text(domain: &Domain, config: &TrackerConfig) -> String {
    match domain {
        Domain::Closed(values) => {
            let values = values();
            format!(
                "closed set: {}",
                values
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Domain::Limited {
            what,
            limiter,
            field,
            cap,
        } => format!(
            "limited free string: {what}; at most {} distinct values by default \
             (`TrackerConfig::{field}`), further values are folded into `{OVERFLOW_VALUE}` \
             and counted in `{DEFAULT_NAMESPACE}_label_values_folded_total{{label=\"{limiter}\"}}`",
            cap(config)
        ),
        Domain::Described(text) => (*text).to_owned(),
    }
}

fn buckets_text(bounds: &[f64]) -> String {
    bounds
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_family(
    out: &mut String,
    spec: &FamilySpec,
    buckets: Option<&[f64]>,
    config: &TrackerConfig,
) -> Result<(), Error> {
    let doc = family_doc(spec.name).ok_or_else(|| {
        Error(format!(
            "family `{}` has no entry in xtask/src/table.rs",
            spec.name
        ))
    })?;
    writeln!(out, "### `{}`\n", main_name(spec))?;
    writeln!(out, "{}.\n", spec.help)?;
    writeln!(out, "- Type: {}", spec.kind.as_str())?;
    writeln!(
        out,
        "- Unit: {}",
        spec.unit
            .map_or("none".to_owned(), |u| format!("`{}`", u.as_str()))
    )?;
    writeln!(out, "- Samples: {}", sample_list(spec))?;
    if let Some(bounds) = buckets {
        writeln!(out, "- Default buckets: {}", buckets_text(bounds))?;
    }
    writeln!(out, "- Recorded by: {}", doc.recorded_by)?;
    if spec.labels.is_empty() {
        writeln!(out, "- Labels: none\n")?;
        return Ok(());
    }
    writeln!(out, "\n| label | values |\n|---|---|")?;
    for label in spec.labels {
        let label_doc = label_doc(spec.name, label).ok_or_else(|| {
            Error(format!(
                "label `{label}` of family `{}` has no entry in xtask/src/table.rs",
                spec.name
            ))
        })?;
        writeln!(
            out,
            "| `{label}` | {} |",
            domain_text(&label_doc.domain, config)
        )?;
    }
    writeln!(out)?;
    Ok(())
}

fn write_summary<'a>(
    out: &mut String,
    specs: impl Iterator<Item = &'a FamilySpec>,
) -> Result<(), Error> {
    writeln!(out, "| family | type | unit | labels |\n|---|---|---|---|")?;
    for spec in specs {
        writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            main_name(spec),
            spec.kind.as_str(),
            spec.unit.map_or("", |u| u.as_str()),
            labels_list(spec.labels)
        )?;
    }
    writeln!(out)?;
    Ok(())
}

/// The text of `docs/metrics.md`.
///
/// # Errors
///
/// When a family or label has no description ([`check_descriptions`]), or
/// as [`runtime_families`].
pub fn metrics_reference() -> Result<String, Error> {
    check_descriptions()?;
    let config = TrackerConfig::default();
    // The bucket layouts in use, from a registration on the defaults.
    let mut registry = Registry::new(&MetricsConfig::new())?;
    let _catalog = Catalog::register(&mut registry)?;
    let buckets = |name: &str| {
        registry
            .families()
            .iter()
            .find(|f| f.spec.name == name)
            .and_then(|f| f.buckets.clone())
    };

    let mut out = String::new();
    writeln!(out, "# Metrics reference\n")?;
    writeln!(
        out,
        "<!-- Generated by `{REGENERATE}` from `incident_metrics_catalog::FAMILIES`, \
         `incident_metrics_exporter::REMOTE_WRITE_FAMILIES` (and \
         `REMOTE_WRITE_NATIVE_HISTOGRAMS_DROPPED`), the rendering of \
         `RuntimeCollector` and the descriptions in `xtask/src/table.rs`. Do not edit by hand: \
         `cargo test -p xtask` fails when this file and the catalog disagree. -->\n"
    )?;
    writeln!(
        out,
        "Every metric family the toolkit registers, as a scrape of the LLM Incident Manager \
         shows it: names carry the default namespace `{DEFAULT_NAMESPACE}` \
         (`MetricsConfig::with_namespace` changes it) and the suffixes of the Prometheus text \
         format 0.0.4 (counters end in `_total`; histograms have `_bucket`, `_sum` and `_count`; \
         in OpenMetrics the family name of a counter leaves `_total` out). Every family is \
         announced (`# HELP`, `# TYPE`) from the first scrape; families whose labels are all \
         closed sets carry every series from the start, at zero.\n"
    )?;
    writeln!(
        out,
        "Labels are either closed sets (enums; every value is listed), bounded sets described \
         below, or limited free strings: a `CardinalityLimiter` keeps the first values up to \
         its cap (the `TrackerConfig` defaults are shown) and folds later ones into \
         `{OVERFLOW_VALUE}`, counting each fold in \
         `{DEFAULT_NAMESPACE}_label_values_folded_total{{label}}`. Every labelled family \
         also holds at most its cardinality limit of series (`cardinality_limit`, default \
         {DEFAULT_CARDINALITY_LIMIT}, per family in `cardinality_limits`): past it, new label \
         sets are folded into one series whose every label is `{OVERFLOW_VALUE}`, counting \
         each fold in `{DEFAULT_NAMESPACE}_metrics_cardinality_overflow_total{{family}}`.\n"
    )?;
    writeln!(out, "## Summary\n")?;
    write_summary(&mut out, FAMILIES.iter().copied())?;

    writeln!(out, "## Catalog families\n")?;
    writeln!(
        out,
        "Declared in `incident-metrics-catalog` and registered by `Catalog::register` (the facade's `Metrics::new` calls it).\n"
    )?;
    for spec in FAMILIES {
        write_family(&mut out, spec, buckets(spec.name).as_deref(), &config)?;
    }

    writeln!(out, "## Runtime collector families\n")?;
    writeln!(
        out,
        "Computed at scrape time by `incident-metrics-trackers`' `RuntimeCollector` (process \
         families from `/proc` on Linux; `tokio_*` with the `tokio` feature and a runtime \
         handle, `RuntimeCollector::with_tokio`). They take the registry's namespace; \
         registered into a registry with an empty namespace they carry the standard \
         `process_*` names. None has labels.\n"
    )?;
    writeln!(out, "| family | type | unit | help |\n|---|---|---|---|")?;
    for family in runtime_families()? {
        writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            family.sample_name(),
            family.kind,
            family.unit.as_deref().unwrap_or(""),
            family.help
        )?;
    }
    writeln!(out)?;

    writeln!(out, "## OpenTelemetry GenAI names\n")?;
    writeln!(
        out,
        "With `genai_names = true` in `[metrics]` (or `INCIDENT_METRICS_GENAI_NAMES=true`, \
         `MetricsConfig::with_genai_names`; off by default) the LLM families that have an \
         OpenTelemetry GenAI equivalent (semantic conventions v1.41) register under the GenAI \
         name instead, translated to Prometheus as OpenTelemetry's exporters do, **without the \
         namespace prefix** (so that dashboards built for OpenTelemetry GenAI work unchanged), \
         with the GenAI bucket boundaries and the GenAI attributes as labels. Every other \
         family, the other LLM families included, keeps its name above. \
         `gen_ai_response_model` repeats the requested model; `gen_ai_operation_name` takes \
         OpenTelemetry's spellings (`text_completion`, `embeddings`) for `completion` and \
         `embedding`; `error_type` (an `llm_errors_total` kind) is present only on the \
         durations of failed calls; cache reads have no GenAI token type and stay in \
         `{DEFAULT_NAMESPACE}_llm_cache_read_tokens_total`. Provider and model pass the same \
         limiters, and each family holds at most its cardinality limit of series.\n"
    )?;
    writeln!(
        out,
        "| catalog family | with `genai_names = true` | buckets | labels |\n|---|---|---|---|"
    )?;
    let mut genai_registry = Registry::new(&MetricsConfig::new().with_genai_names(true))?;
    let _genai_catalog = Catalog::register(&mut genai_registry)?;
    for (ours, genai) in GENAI_EQUIVALENTS {
        let bounds = genai_registry
            .families()
            .iter()
            .find(|f| f.spec.name == genai.name)
            .and_then(|f| f.buckets.clone())
            .unwrap_or_default();
        writeln!(
            out,
            "| `{}` | `{}` | {} | {} |",
            main_name(ours),
            genai.full_name(""),
            bounds
                .iter()
                .map(f64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            labels_list(genai.labels)
        )?;
    }
    writeln!(out)?;

    writeln!(out, "## Remote-write sender families\n")?;
    writeln!(
        out,
        "Registered by `incident-metrics-exporter`'s `RemoteWriteConfig::register` (feature \
         `remote-write`) when the service pushes with Prometheus remote-write; absent \
         otherwise. The last, `remote_write_native_histograms_dropped`, only with \
         `native_histograms = true` in `[metrics.push.remote_write]`.\n"
    )?;
    write_summary(&mut out, remote_write_families())?;
    for spec in remote_write_families() {
        write_family(&mut out, spec, None, &config)?;
    }
    // One trailing newline.
    while out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_family_and_label_has_a_description() {
        if let Err(e) = check_descriptions() {
            panic!("{e}");
        }
    }

    #[test]
    fn the_table_has_no_stale_entries() {
        for doc in crate::table::FAMILY_DOCS {
            assert!(
                FAMILIES
                    .iter()
                    .copied()
                    .chain(remote_write_families())
                    .any(|s| s.name == doc.name),
                "FAMILY_DOCS has `{}`, which no family has",
                doc.name
            );
        }
        for doc in crate::table::LABEL_DOCS {
            assert!(
                FAMILIES
                    .iter()
                    .any(|s| s.name.starts_with(doc.scope) && s.labels.contains(&doc.label)),
                "LABEL_DOCS has `{}` for `{}*`, which no family has",
                doc.label,
                doc.scope
            );
        }
    }

    #[test]
    fn the_runtime_collector_renders_process_and_tokio_families() {
        let families = runtime_families().unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = families.iter().map(CollectedFamily::sample_name).collect();
        for want in [
            "llm_incident_manager_tokio_workers",
            "llm_incident_manager_tokio_alive_tasks",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        if cfg!(target_os = "linux") {
            assert!(
                names
                    .iter()
                    .any(|n| n == "llm_incident_manager_process_cpu_seconds_total"),
                "{names:?}"
            );
        }
        assert!(
            families
                .iter()
                .all(|f| !f.kind.is_empty() && !f.help.is_empty())
        );
    }

    #[test]
    fn enum_labels_list_every_value() {
        let text = metrics_reference().unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("`critical`, `high`, `medium`, `low`, `info`"));
        assert!(text.contains("`OK`, `CANCELLED`"));
        assert!(text.contains("### `llm_incident_manager_llm_cost_usd_total`"));
        assert!(text.contains("### `llm_incident_manager_http_request_duration_seconds`"));
        assert!(text.contains("`TrackerConfig::max_models`"));
    }
}
