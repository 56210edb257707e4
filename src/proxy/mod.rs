//! The provider layer: canonical chat types, the `Provider` trait, one adapter per
//! provider wire format, and dispatch by `ProviderKind`.
//!
//! This module calls one upstream deployment and translates both ways. It deliberately
//! does not authenticate clients, charge, enforce budgets, pick deployments or retry:
//! `handler.rs` / `router.rs` do that on top of `complete` / `stream`, using
//! `UpstreamError::is_retryable` to decide on fail-over.

pub mod admission;
pub mod anthropic;
pub mod check;
pub mod client;
pub mod cors;
pub mod doors;
pub mod gemini;
pub mod handler;
pub(crate) mod http;
#[cfg(test)]
mod http_tests;
mod json_scan;
pub mod limits;
mod messages;
pub mod mistral;
pub mod openai;
pub mod piece;
pub mod relay;
mod request;
mod request_fast;
pub mod router;
pub mod sse;
#[cfg(test)]
mod testing;
pub mod ticket;
pub mod types;

use std::pin::Pin;
use std::time::Duration;

pub use client::Client;
pub use piece::Piece;
use serde::{Deserialize, Serialize};

pub use types::{ChatChunk, ChatRequest, ChatResponse, RequestError, Usage};

/// A translated stream. Not `Send`: the provider client is per worker thread.
pub type ChunkStream = Pin<Box<dyn futures_util::Stream<Item = Result<Piece, UpstreamError>>>>;

/// The wire format a deployment speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// api.openai.com.
    #[serde(rename = "openai")]
    OpenAi,
    /// Any OpenAI-compatible server (vLLM, Ollama, DeepSeek, …).
    #[serde(rename = "openai_compatible")]
    OpenAiCompatible,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini (Generative Language API).
    Gemini,
    /// Mistral chat completions.
    Mistral,
    /// Cohere (rerank only: its `/v2/rerank`).
    Cohere,
}

impl ProviderKind {
    /// The config spelling (`openai`, `openai_compatible`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai_compatible",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Mistral => "mistral",
            ProviderKind::Cohere => "cohere",
        }
    }
}

/// One upstream deployment to call.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Wire format.
    pub provider: ProviderKind,
    /// The provider's own model id.
    pub model_id: String,
    /// e.g. `https://api.anthropic.com`, no trailing slash.
    pub api_base: String,
    /// Provider key; `None` is refused with `UpstreamError::MissingKey`.
    pub api_key: Option<String>,
    /// Time allowed until response headers, for a whole non-streamed body, and
    /// between two reads of a streamed body.
    pub timeout: Duration,
    /// The way out to the provider (direct or a proxy, and the CAs trusted).
    pub route: client::RouteId,
}

/// How an upstream HTTP error should be presented to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// 400/404/413/422: the request was refused (`invalid_request_error`).
    InvalidRequest,
    /// 401/403 or a rejected key: the *provider* key is wrong (`authentication_error`).
    Authentication,
    /// 429 (`rate_limit_error`), retryable.
    RateLimit,
    /// 429 `insufficient_quota`: the provider account is out of credit; not retryable
    /// (`rate_limit_error` / `insufficient_quota` to the client).
    QuotaExceeded,
    /// 5xx/529 (`api_error`).
    Server,
}

impl UpstreamErrorKind {
    /// The OpenAI error `type` to show the client.
    pub fn openai_type(self) -> &'static str {
        match self {
            UpstreamErrorKind::InvalidRequest => "invalid_request_error",
            UpstreamErrorKind::Authentication => "authentication_error",
            UpstreamErrorKind::RateLimit | UpstreamErrorKind::QuotaExceeded => "rate_limit_error",
            UpstreamErrorKind::Server => "api_error",
        }
    }

    /// The default kind for an HTTP status.
    pub fn from_status(status: u16) -> UpstreamErrorKind {
        match status {
            401 | 403 => UpstreamErrorKind::Authentication,
            429 => UpstreamErrorKind::RateLimit,
            s if s >= 500 => UpstreamErrorKind::Server,
            _ => UpstreamErrorKind::InvalidRequest,
        }
    }
}

/// A failed upstream call. Messages never contain the provider key.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The provider answered with an error status (or sent an error event in a stream).
    #[error("provider error (HTTP {status}): {message}")]
    Status {
        /// The provider's HTTP status (in-stream errors: the status their type implies).
        status: u16,
        /// Translated, key-free message.
        message: String,
        /// How to present it.
        kind: UpstreamErrorKind,
        /// From `retry-after`, `retry-after-ms` or Gemini's `RetryInfo`.
        retry_after: Option<Duration>,
    },
    /// No answer (or no next stream event) within the deployment timeout.
    #[error("the provider did not answer in time")]
    Timeout,
    /// Connection or transport failure.
    #[error("could not reach the provider: {0}")]
    Connect(String),
    /// The request was sent and the connection closed unanswered; not retried, since
    /// the provider may have begun to process (and bill) it.
    #[error("the provider closed the connection: {0}")]
    Interrupted(String),
    /// The provider answered something we cannot read (bad JSON, truncated stream).
    #[error("the provider sent an invalid response: {0}")]
    Protocol(String),
    /// The deployment has no API key configured; no call was made.
    #[error("no API key is configured for this model deployment")]
    MissingKey,
    /// The request cannot be expressed for this provider (e.g. n>1 on Anthropic).
    #[error("{0}")]
    InvalidRequest(String),
}

impl UpstreamError {
    /// Worth retrying on another deployment (PROVIDERS.md §7).
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Connect(_) | UpstreamError::Timeout => true,
            UpstreamError::Status { status, kind, .. } => {
                *kind != UpstreamErrorKind::QuotaExceeded
                    && matches!(status, 408 | 409 | 429 | 500 | 502 | 503 | 504 | 529)
            }
            UpstreamError::Protocol(_)
            | UpstreamError::Interrupted(_)
            | UpstreamError::MissingKey
            | UpstreamError::InvalidRequest(_) => false,
        }
    }

    /// The provider's suggested wait before retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            UpstreamError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// One provider adapter. `pub(crate)` keeps the `async_fn_in_trait` lint quiet;
/// the futures are not `Send` (the provider client is per worker thread).
pub(crate) trait Provider {
    /// One non-streamed completion.
    async fn complete(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChatResponse, UpstreamError>;
    /// A streamed completion, translated event by event.
    async fn stream(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChunkStream, UpstreamError>;
}

/// Call `up` once, non-streamed.
pub async fn complete(
    http: &Client,
    up: &Upstream,
    req: &ChatRequest,
) -> Result<ChatResponse, UpstreamError> {
    match up.provider {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
            openai::OpenAi.complete(http, up, req).await
        }
        ProviderKind::Anthropic => anthropic::Anthropic.complete(http, up, req).await,
        ProviderKind::Gemini => gemini::Gemini.complete(http, up, req).await,
        ProviderKind::Mistral => mistral::Mistral.complete(http, up, req).await,
        ProviderKind::Cohere => Err(no_chat(up)),
    }
}

/// Call `up` once, streamed. Errors before the first byte come back as `Err`; later
/// failures (in-stream error, truncation, stall) as the stream's last item.
pub async fn stream(
    http: &Client,
    up: &Upstream,
    req: &ChatRequest,
) -> Result<ChunkStream, UpstreamError> {
    match up.provider {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
            openai::OpenAi.stream(http, up, req).await
        }
        ProviderKind::Anthropic => anthropic::Anthropic.stream(http, up, req).await,
        ProviderKind::Gemini => gemini::Gemini.stream(http, up, req).await,
        ProviderKind::Mistral => mistral::Mistral.stream(http, up, req).await,
        ProviderKind::Cohere => Err(no_chat(up)),
    }
}

/// Cohere deployments serve rerank only (the config refuses them as chat models, so
/// this is a guard, not a path).
fn no_chat(up: &Upstream) -> UpstreamError {
    UpstreamError::InvalidRequest(format!(
        "{} is a Cohere rerank deployment and has no chat",
        up.model_id
    ))
}

/// The provider's cheapest authenticated call (its model list): URL and headers.
pub(crate) fn model_list_request(up: &Upstream) -> (String, Vec<(&'static str, String)>) {
    match up.provider {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Mistral => {
            openai::model_list_request(up)
        }
        ProviderKind::Anthropic => anthropic::model_list_request(up),
        ProviderKind::Gemini => gemini::model_list_request(up),
        ProviderKind::Cohere => {
            let url = format!("{}/v1/models", up.api_base.trim_end_matches('/'));
            let auth = up
                .api_key
                .iter()
                .map(|k| ("authorization", format!("Bearer {k}")));
            (url, auth.collect())
        }
    }
}

/// The output limit that will actually be sent upstream: the client's `max_tokens`,
/// or for Anthropic (where it is required) the gateway default / model cap.
/// Use it for budget reservation.
pub fn effective_max_tokens(up: &Upstream, req: &ChatRequest) -> Option<u32> {
    match up.provider {
        ProviderKind::Anthropic => Some(anthropic::max_tokens(&up.model_id, req.max_tokens)),
        _ => req.max_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_kind_uses_config_spelling() {
        for kind in [
            ProviderKind::OpenAi,
            ProviderKind::OpenAiCompatible,
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
            ProviderKind::Mistral,
        ] {
            let json = serde_json::to_string(&kind).expect("serialize");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            let back: ProviderKind = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, kind);
        }
    }

    #[test]
    fn retryable_errors_follow_the_table() {
        let status = |status: u16, kind| UpstreamError::Status {
            status,
            message: String::new(),
            kind,
            retry_after: None,
        };
        for s in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(
                status(s, UpstreamErrorKind::from_status(s)).is_retryable(),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(
                !status(s, UpstreamErrorKind::from_status(s)).is_retryable(),
                "{s}"
            );
        }
        assert!(!status(429, UpstreamErrorKind::QuotaExceeded).is_retryable());
        assert!(UpstreamError::Timeout.is_retryable());
        assert!(UpstreamError::Connect("refused".into()).is_retryable());
        assert!(!UpstreamError::Protocol("x".into()).is_retryable());
        assert!(!UpstreamError::MissingKey.is_retryable());
    }
}
