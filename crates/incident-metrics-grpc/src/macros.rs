//! [`instrument_grpc!`](crate::instrument_grpc): wraps an async handler body
//! in a [`RequestGuard`](crate::RequestGuard).

/// Awaits an async handler body inside a [`RequestGuard`](crate::RequestGuard)
/// started by a [`GrpcRequestMetrics`](crate::GrpcRequestMetrics), and
/// records its outcome: `OK` for `Ok(_)`, the error's code for `Err(e)`,
/// `CANCELLED` if the enclosing future is dropped while the body runs.
///
/// `instrument_grpc!(interceptor, service, method, body)` must be used inside
/// an `async` context. `body` is a future whose output is a `Result<T, E>`
/// where `E` has a method `code()` returning a value convertible into `i32`,
/// as `tonic::Status` does (`tonic::Code` converts into `i32`); the macro
/// evaluates to that `Result`.
///
/// # Examples
///
/// ```
/// use incident_metrics_catalog::Catalog;
/// use incident_metrics_core::{MetricsConfig, Registry};
/// use incident_metrics_grpc::{instrument_grpc, GrpcRequestMetrics};
///
/// async fn get_incident(
///     interceptor: &GrpcRequestMetrics,
///     id: u64,
/// ) -> Result<String, tonic::Status> {
///     instrument_grpc!(interceptor, "incident.v1.IncidentService", "GetIncident", async {
///         if id == 1 {
///             Ok("incident 1".to_owned())
///         } else {
///             Err(tonic::Status::not_found("no such incident"))
///         }
///     })
/// }
///
/// let mut registry = Registry::new(&MetricsConfig::new())?;
/// let catalog = Catalog::register(&mut registry)?;
/// let interceptor = GrpcRequestMetrics::server(&catalog);
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// assert!(runtime.block_on(get_incident(&interceptor, 1)).is_ok());
/// assert!(runtime.block_on(get_incident(&interceptor, 2)).is_err());
///
/// let mut text = String::new();
/// incident_metrics_core::prometheus_client::encoding::text::encode(
///     &mut text,
///     registry.as_prometheus(),
/// )?;
/// assert!(text.contains("method=\"GetIncident\",status=\"NOT_FOUND\"} 1\n"));
/// assert!(text.contains("method=\"GetIncident\",status=\"OK\"} 1\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[macro_export]
macro_rules! instrument_grpc {
    ($interceptor:expr, $service:expr, $method:expr, $body:expr $(,)?) => {{
        let guard = $crate::GrpcRequestMetrics::start_request(&$interceptor, $service, $method);
        let result = $body.await;
        match &result {
            ::std::result::Result::Ok(_) => guard.success(),
            ::std::result::Result::Err(error) => {
                guard.error($crate::__private::code_of(error.code()))
            }
        }
        result
    }};
}
