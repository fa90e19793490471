//! Support for the macros; not part of the API.

use incident_metrics_catalog::grpc::GrpcCode;

/// The code for any numeric code type (`tonic::Code` among them).
#[inline]
pub fn code_of<C: Into<i32>>(code: C) -> GrpcCode {
    GrpcCode::from_i32(code.into())
}
