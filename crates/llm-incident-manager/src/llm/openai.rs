//! A provider for OpenAI-compatible chat-completion APIs
//! (`POST {base_url}/chat/completions`), streaming by default so that the
//! time to the first token is measured.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use super::{LlmError, LlmProvider, LlmRequest, LlmResponse, count_tokens};
use crate::config::LlmConfig;
use crate::http_client::{HttpClient, new_client};

/// The `provider` label value.
pub const PROVIDER: &str = "openai";

/// The OpenAI-compatible provider.
#[derive(Clone)]
pub struct OpenAiProvider {
    url: String,
    model: String,
    api_key: Option<String>,
    stream: bool,
    client: HttpClient,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    /// A provider for the base URL, model, key and streaming choice of `config`.
    pub fn new(config: &LlmConfig) -> Self {
        Self {
            url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            model: config.model_or_default().to_owned(),
            api_key: config.api_key.clone(),
            stream: config.stream,
            client: new_client(),
        }
    }

    async fn run(
        &self,
        request: &LlmRequest,
        first_token: &mut (dyn FnMut() + Send),
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
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
            return Err(LlmError::Status {
                status: status.as_u16(),
                body: text,
            });
        }
        let prompt_estimate = count_tokens(&request.instruction) + count_tokens(&request.input);
        if !self.stream {
            let bytes = body
                .collect()
                .await
                .map_err(|e| LlmError::Network(e.to_string()))?
                .to_bytes();
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
            });
        }
        let mut sse = SseDecoder::default();
        let mut text = String::new();
        let mut first: Option<Duration> = None;
        let mut reported: Option<(u64, u64)> = None;
        let mut done = false;
        while !done {
            let Some(frame) = body.frame().await else {
                break;
            };
            let frame = frame.map_err(|e| LlmError::Network(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            for event in sse.push(&data) {
                if event == "[DONE]" {
                    done = true;
                    break;
                }
                let value: Value = serde_json::from_str(&event)
                    .map_err(|e| LlmError::InvalidResponse(e.to_string()))?;
                if let Some(delta) = value["choices"][0]["delta"]["content"].as_str()
                    && !delta.is_empty()
                {
                    if first.is_none() {
                        first = Some(start.elapsed());
                        first_token();
                    }
                    text.push_str(delta);
                }
                if let Some(u) = usage(&value) {
                    reported = Some(u);
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
        })
    }
}

fn usage(value: &Value) -> Option<(u64, u64)> {
    let usage = value.get("usage")?;
    Some((
        usage.get("prompt_tokens")?.as_u64()?,
        usage.get("completion_tokens")?.as_u64()?,
    ))
}

/// Splits a server-sent-event byte stream into the payloads of its `data:`
/// lines, across frame boundaries.
#[derive(Debug, Default)]
struct SseDecoder {
    buf: Vec<u8>,
}

impl SseDecoder {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(data) = line.strip_prefix("data:") {
                out.push(data.trim_start().to_owned());
            }
        }
        out
    }
}

impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn complete<'a>(
        &'a self,
        request: &'a LlmRequest,
        first_token: &'a mut (dyn FnMut() + Send),
    ) -> BoxFuture<'a, Result<LlmResponse, LlmError>> {
        Box::pin(self.run(request, first_token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_across_frames() {
        let mut d = SseDecoder::default();
        assert!(d.push(b"data: {\"a\"").is_empty());
        assert_eq!(
            d.push(b":1}\r\n\r\ndata: [DONE]\n"),
            vec!["{\"a\":1}", "[DONE]"]
        );
    }
}
