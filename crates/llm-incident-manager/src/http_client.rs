//! The plain-HTTP client shared by the OpenAI provider, the webhook channel
//! and playbook HTTP steps (hyper-util's legacy client; no TLS in this build).

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The client type.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new client with a connection pool.
pub(crate) fn new_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}
