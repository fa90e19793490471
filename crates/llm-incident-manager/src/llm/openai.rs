//! A provider for OpenAI-compatible chat-completion APIs
//! (`POST {base_url}/chat/completions`), streaming by default so that the
//! time to the first token is measured.
//!
//! Every answer body (an error's, a JSON answer, a server-sent-event
//! stream) is read frame by frame against `llm.max_response_bytes`: a
//! `Content-Length` past it fails the call before the body is read, and a
//! body that grows past it fails the call as soon as the frame that crosses
//! the bound arrives ([`LlmError::ResponseTooLarge`]), dropping the
//! connection. Only the first [`ERROR_BODY_BYTES`] of an error answer are
//! read. The event-stream decoder is linear in the bytes received: each
//! byte is scanned for a line end once and moved at most once.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    CallObserver, LlmError, LlmProvider, LlmRequest, LlmResponse, RateLimits, count_tokens,
};
use crate::config::ProviderConfig;
use crate::http_client::{HttpClient, new_client_with};

/// The default `provider` label value (a `[[llm.providers]]` table's
/// `name` replaces it).
pub const PROVIDER: &str = "openai";

/// How much of an error answer's body is read (and kept in
/// [`LlmError::Status`]); the rest is never read.
pub const ERROR_BODY_BYTES: usize = 512;

/// The OpenAI-compatible provider.
#[derive(Clone)]
pub struct OpenAiProvider {
    name: String,
    url: String,
    model: String,
    api_key: Option<String>,
    stream: bool,
    max_response_bytes: u64,
    client: HttpClient,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("stream", &self.stream)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    /// A provider for the name, base URL, model, key, streaming choice,
    /// answer bound and TLS of `config` (one entry of
    /// [`LlmConfig::chain`](crate::config::LlmConfig::chain)).
    pub fn new(config: &ProviderConfig) -> Self {
        Self {
            name: config.label().to_owned(),
            url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            model: config.model_or_default().to_owned(),
            api_key: config.api_key.clone(),
            stream: config.stream,
            max_response_bytes: config.max_response_bytes,
            client: new_client_with(config.tls.as_ref()),
        }
    }

    async fn run(
        &self,
        request: &LlmRequest,
        observer: &mut dyn CallObserver,
    ) -> Result<LlmResponse, LlmError> {
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": request.instruction},
                {"role": "user", "content": request.input},
            ],
            "stream": self.stream,
        });
        if self.stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        let mut builder = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::ACCEPT,
                if self.stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            );
        if let Some(key) = &self.api_key {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let http_request = builder
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| LlmError::InvalidRequest(e.to_string()))?;
        let start = Instant::now();
        let response = self
            .client
            .request(http_request)
            .await
            .map_err(|e| LlmError::Network(e.to_string()))?;
        let status = response.status();
        let limits = RateLimits::from_headers(response.headers());
        if !limits.is_empty() {
            observer.rate_limits(&limits);
        }
        let limit = self.max_response_bytes;
        if !status.is_success() {
            let bytes = read_error_body(response.into_body()).await;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            return Err(LlmError::Status {
                status: status.as_u16(),
                body: text,
            });
        }
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Err(LlmError::ResponseTooLarge { limit });
        }
        let mut body = CappedBody::new(response.into_body(), limit);
        let prompt_estimate = count_tokens(&request.instruction) + count_tokens(&request.input);
        if !self.stream {
            let mut bytes = Vec::new();
            while let Some(data) = body.next().await? {
                bytes.extend_from_slice(&data);
            }
            let value: Value = serde_json::from_slice(&bytes)
                .map_err(|e| LlmError::InvalidResponse(e.to_string()))?;
            let text = value["choices"][0]["message"]["content"]
                .as_str()
                .ok_or_else(|| LlmError::InvalidResponse("no choices[0].message.content".into()))?
                .to_owned();
            let (input_tokens, output_tokens) =
                usage(&value).unwrap_or_else(|| (prompt_estimate, count_tokens(&text)));
            return Ok(LlmResponse {
                text,
                input_tokens,
                output_tokens,
                time_to_first_token: None,
                finish_reason: value["choices"][0]["finish_reason"]
                    .as_str()
                    .map(str::to_owned),
                cached_tokens: value["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64(),
            });
        }
        let mut sse = SseDecoder::default();
        let mut text = String::new();
        let mut first: Option<Duration> = None;
        let mut reported: Option<(u64, u64)> = None;
        let mut finish_reason: Option<String> = None;
        let mut cached_tokens: Option<u64> = None;
        let mut done = false;
        let mut events = Vec::new();
        while !done {
            let Some(data) = body.next().await? else {
                break;
            };
            events.clear();
            sse.push(&data, &mut events);
            for event in events.drain(..) {
                if event == "[DONE]" {
                    done = true;
                    break;
                }
                // Typed and borrowing: cheaper than building a `Value` for
                // every event of a long stream.
                let chunk: StreamChunk<'_> = serde_json::from_str(&event)
                    .map_err(|e| LlmError::InvalidResponse(e.to_string()))?;
                let choice = chunk.choices.first();
                if let Some(delta) = choice
                    .and_then(|c| c.delta.as_ref())
                    .and_then(|d| d.content.as_deref())
                    && !delta.is_empty()
                {
                    if first.is_none() {
                        first = Some(start.elapsed());
                    }
                    observer.token();
                    text.push_str(delta);
                }
                if let Some(reason) = choice.and_then(|c| c.finish_reason.as_deref()) {
                    finish_reason = Some(reason.to_owned());
                }
                if let Some(usage) = chunk.usage {
                    if let (Some(input), Some(output)) =
                        (usage.prompt_tokens, usage.completion_tokens)
                    {
                        reported = Some((input, output));
                    }
                    if let Some(cached) = usage.prompt_tokens_details.and_then(|d| d.cached_tokens)
                    {
                        cached_tokens = Some(cached);
                    }
                }
            }
        }
        if !done && first.is_none() {
            return Err(LlmError::InvalidResponse(
                "stream ended without content".to_owned(),
            ));
        }
        let (input_tokens, output_tokens) =
            reported.unwrap_or_else(|| (prompt_estimate, count_tokens(&text)));
        Ok(LlmResponse {
            text,
            input_tokens,
            output_tokens,
            time_to_first_token: first,
            finish_reason,
            cached_tokens,
        })
    }
}

/// One event of a streamed chat completion: what this client reads of it.
#[derive(Debug, Deserialize)]
struct StreamChunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<StreamChoice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct StreamChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Debug, Deserialize)]
struct PromptTokensDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

fn usage(value: &Value) -> Option<(u64, u64)> {
    let usage = value.get("usage")?;
    Some((
        usage.get("prompt_tokens")?.as_u64()?,
        usage.get("completion_tokens")?.as_u64()?,
    ))
}

/// Reads at most [`ERROR_BODY_BYTES`] of an error answer's body; a body
/// that fails midway gives what was read.
async fn read_error_body(mut body: Incoming) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_BYTES {
        let Some(Ok(frame)) = body.frame().await else {
            break;
        };
        if let Ok(data) = frame.into_data() {
            let room = ERROR_BODY_BYTES - bytes.len();
            bytes.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    bytes
}

/// An answer body read frame by frame, failing once more than `limit`
/// bytes have arrived.
struct CappedBody {
    body: Incoming,
    limit: u64,
    read: u64,
}

impl CappedBody {
    fn new(body: Incoming, limit: u64) -> Self {
        Self {
            body,
            limit,
            read: 0,
        }
    }

    /// The next data frame, `None` at the end.
    ///
    /// # Errors
    ///
    /// [`LlmError::ResponseTooLarge`] as soon as the bytes read pass the
    /// limit, [`LlmError::Network`] if the body fails.
    async fn next(&mut self) -> Result<Option<Bytes>, LlmError> {
        loop {
            let Some(frame) = self.body.frame().await else {
                return Ok(None);
            };
            let frame = frame.map_err(|e| LlmError::Network(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            self.read = self
                .read
                .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
            if self.read > self.limit {
                return Err(LlmError::ResponseTooLarge { limit: self.limit });
            }
            return Ok(Some(data));
        }
    }
}

/// Splits a server-sent-event byte stream into the payloads of its `data:`
/// lines, across frame boundaries.
///
/// Linear in the bytes pushed: `scanned` marks how much of the pending
/// partial line has been searched for a line end already, so no byte is
/// searched twice, and the consumed lines are removed once per push (not
/// once per line), so each byte is moved at most once. The pending partial
/// line is bounded by the caller's cap on the whole body.
#[derive(Debug, Default)]
struct SseDecoder {
    buf: Vec<u8>,
    scanned: usize,
}

impl SseDecoder {
    /// Adds `bytes` and appends the payloads of the `data:` lines they
    /// complete to `out`.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<String>) {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(offset) = self.buf.get(from..).and_then(memchr_newline) {
            let end = from + offset;
            if let Some(line) = self.buf.get(start..end) {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(data) = line.strip_prefix(b"data:") {
                    out.push(String::from_utf8_lossy(data).trim_start().to_owned());
                }
            }
            start = end + 1;
            from = start;
        }
        if start > 0 {
            self.buf.drain(..start);
        }
        self.scanned = self.buf.len();
    }
}

/// The offset of the first `\n` in `bytes`.
fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn complete<'a>(
        &'a self,
        request: &'a LlmRequest,
        events: &'a mut dyn CallObserver,
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
        Box::pin(self.run(request, events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(d: &mut SseDecoder, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        d.push(bytes, &mut out);
        out
    }

    #[test]
    fn sse_across_frames() {
        let mut d = SseDecoder::default();
        assert!(push(&mut d, b"data: {\"a\"").is_empty());
        assert_eq!(
            push(&mut d, b":1}\r\n\r\ndata: [DONE]\n"),
            vec!["{\"a\":1}", "[DONE]"]
        );
        assert!(d.buf.is_empty());
    }

    /// Many small frames, one byte at a time and in odd-sized chunks, decode
    /// to exactly the events sent; the decoder holds only the pending
    /// partial line. (Linear: the old decoder rescanned its whole buffer
    /// for every frame, quadratic in a long line sent in small frames.)
    #[test]
    fn sse_many_small_frames() {
        let events: Vec<String> = (0..20_000)
            .map(|i| format!("{{\"choices\":[{{\"delta\":{{\"content\":\"w{i} \"}}}}]}}"))
            .collect();
        let mut stream = Vec::new();
        for e in &events {
            stream.extend_from_slice(b"data: ");
            stream.extend_from_slice(e.as_bytes());
            stream.extend_from_slice(b"\r\n\r\n");
        }
        stream.extend_from_slice(b": comment\nevent: x\ndata: [DONE]\n\n");
        for chunk in [1, 3, 7, 64, 4096] {
            let mut d = SseDecoder::default();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                d.push(piece, &mut out);
                assert!(d.buf.len() < 128, "holds only a partial line");
            }
            assert_eq!(out.len(), events.len() + 1, "chunk {chunk}");
            assert_eq!(out[..events.len()], events[..], "chunk {chunk}");
            assert_eq!(out[events.len()], "[DONE]");
            assert!(d.buf.is_empty());
        }
        // One long line (1 MiB) arriving a byte at a time: each byte is
        // scanned once, so this finishes at once (quadratic rescanning would
        // take some 5 × 10^11 byte comparisons).
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        let long = vec![b'x'; 1 << 20];
        d.push(b"data: ", &mut out);
        for byte in &long {
            d.push(std::slice::from_ref(byte), &mut out);
        }
        d.push(b"\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 1 << 20);
    }
}
