//! Strict in-process fake of the four upstream providers (OpenAI, Anthropic, Gemini, Mistral).
//!
//! Written from PROVIDERS.md only, never from the gateway's translation code, so a test can
//! disagree with the gateway. One HTTP server serves all four under their own prefix
//! (`/openai/v1`, `/anthropic`, `/gemini`, `/mistral/v1`), validates like the real APIs, answers
//! deterministically, records every request and misbehaves on demand (queued [`Fault`]s, also
//! settable over HTTP at `/_sim/faults`). It deliberately does not model pricing, rate limits
//! over time, images' content or anything beyond one chat/messages/generateContent call.

mod anthropic;
mod anthropic_blocks;
mod errors;
mod gemini;
mod gemini_checks;
mod mistral;
mod openai;
mod reply;
mod stream;
mod tokens;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use reply::{Accepted, Reply};
use stream::StreamPlan;

/// The key every simulated provider expects unless configured otherwise.
pub const DEFAULT_API_KEY: &str = "tollgate-simulator-key";

/// Largest request body accepted (images travel inline as base64).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Simulator settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatorConfig {
    /// The API key all four providers expect.
    pub api_key: String,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.to_string(),
        }
    }
}

/// Which fake provider a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimProvider {
    /// `POST /openai/v1/chat/completions`.
    OpenAi,
    /// `POST /anthropic/v1/messages`.
    Anthropic,
    /// `POST /gemini/v1beta/models/{model}:generateContent` / `:streamGenerateContent`.
    Gemini,
    /// `POST /mistral/v1/chat/completions`.
    Mistral,
}

impl SimProvider {
    /// Lowercase name, as used in reply texts and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Mistral => "mistral",
        }
    }
}

/// One request as the simulator received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceivedRequest {
    /// Provider whose route it hit.
    pub provider: SimProvider,
    /// Request path, prefix included.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// Headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Parsed JSON body; `Null` when it was not JSON.
    pub body: Value,
    /// Whether a stream was asked for (`"stream": true`, or Gemini's `:streamGenerateContent`).
    pub stream: bool,
}

/// A queued misbehaviour, consumed by the next `times` matching (and otherwise valid) requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Only requests to this provider (any when `None`).
    #[serde(default)]
    pub provider: Option<SimProvider>,
    /// Only requests for this model id, as sent (any when `None`).
    #[serde(default)]
    pub model: Option<String>,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub times: u32,
    /// What happens.
    pub kind: FaultKind,
}

fn one() -> u32 {
    1
}

impl Fault {
    fn matches(&self, provider: SimProvider, model: &str) -> bool {
        self.times > 0
            && self.provider.is_none_or(|p| p == provider)
            && self.model.as_deref().is_none_or(|m| m == model)
    }
}

/// The behaviours a [`Fault`] can inject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The provider's own error JSON for `status` (+ `retry-after` / Gemini `RetryInfo`).
    Status {
        /// HTTP status, e.g. 429, 500, 503, 529.
        status: u16,
        /// Seconds to advertise for a retry.
        retry_after_s: Option<u32>,
    },
    /// Wait before the first byte, then answer normally.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Wait between stream events (no effect on non-streamed calls).
    StreamDelay {
        /// Milliseconds.
        ms: u64,
    },
    /// End the stream after this many events, without its terminator. A non-streamed call
    /// gets a 200 whose JSON body is cut in half.
    CutStream {
        /// Events sent before the cut (capped so the terminator is never sent).
        after_events: usize,
    },
    /// Start the stream, then send the provider's in-stream error event (non-streamed: a 500).
    InStreamError,
    /// A 200 with a non-JSON body.
    Garbage,
    /// Call this tool instead of answering with text.
    ToolCall {
        /// Function name.
        name: String,
        /// Arguments object.
        arguments: Value,
    },
    /// Anthropic `refusal`, Gemini `promptFeedback.blockReason`, OpenAI `content_filter`
    /// (Mistral has no such finish and answers normally).
    ContentFilter,
}

#[derive(Debug)]
struct SimState {
    config: SimulatorConfig,
    received: Mutex<Vec<ReceivedRequest>>,
    faults: Mutex<VecDeque<Fault>>,
}

/// The simulator: shared state behind an `Arc`, so clones see the same records and faults.
#[derive(Debug, Clone)]
pub struct Simulator(Arc<SimState>);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not wedge every later request.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Simulator {
    /// A simulator expecting `config.api_key` from every client.
    pub fn new(config: SimulatorConfig) -> Self {
        Self(Arc::new(SimState {
            config,
            received: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
        }))
    }

    /// Binds `listen` (e.g. `"127.0.0.1:0"`); returns the bound address and the server, which
    /// the caller spawns or awaits. Signals are left to the caller's own server.
    pub fn bind(&self, listen: &str) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
        let data = web::Data::new(self.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .configure(routes)
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(listen)?;
        let addr = server.addrs().first().copied().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address bound")
        })?;
        Ok((addr, server.run()))
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        lock(&self.0.received).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_received(&self) {
        lock(&self.0.received).clear();
    }

    /// Queues a fault; the first queued fault matching a request is the one applied.
    pub fn push_fault(&self, fault: Fault) {
        if fault.times > 0 {
            lock(&self.0.faults).push_back(fault);
        }
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.0.faults).clear();
    }

    fn record(&self, request: ReceivedRequest) {
        lock(&self.0.received).push(request);
    }

    fn take_fault(&self, provider: SimProvider, model: &str) -> Option<FaultKind> {
        let mut faults = lock(&self.0.faults);
        let index = faults.iter().position(|f| f.matches(provider, model))?;
        let fault = faults.get_mut(index)?;
        fault.times -= 1;
        let kind = fault.kind.clone();
        if fault.times == 0 {
            faults.remove(index);
        }
        Some(kind)
    }
}

/// What a provider module sees of a request.
pub(crate) struct Incoming<'a> {
    /// The HTTP request (headers, path, query).
    pub req: &'a HttpRequest,
    /// The JSON body, `None` when it was not `application/json` or did not parse.
    pub body: Option<&'a Value>,
    /// The key the simulator expects.
    pub api_key: &'a str,
}

impl Incoming<'_> {
    /// A header's value, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The token of an `Authorization: Bearer` header.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
    }

    /// A query parameter's raw value.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.req
            .query_string()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/openai/v1/chat/completions", web::post().to(openai_call))
        .route("/anthropic/v1/messages", web::post().to(anthropic_call))
        .route(
            "/gemini/v1beta/models/{model_action}",
            web::post().to(gemini_call),
        )
        .route("/mistral/v1/chat/completions", web::post().to(mistral_call))
        .route("/_sim/faults", web::post().to(add_fault))
        .route("/_sim/faults", web::delete().to(delete_faults))
        .route("/_sim/received", web::get().to(list_received))
        .route("/_sim/received", web::delete().to(delete_received));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "simulator": true}))
}

async fn add_fault(sim: web::Data<Simulator>, fault: web::Json<Fault>) -> HttpResponse {
    sim.push_fault(fault.into_inner());
    HttpResponse::NoContent().finish()
}

async fn delete_faults(sim: web::Data<Simulator>) -> HttpResponse {
    sim.clear_faults();
    HttpResponse::NoContent().finish()
}

async fn list_received(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.received())
}

async fn delete_received(sim: web::Data<Simulator>) -> HttpResponse {
    sim.clear_received();
    HttpResponse::NoContent().finish()
}

async fn openai_call(sim: web::Data<Simulator>, req: HttpRequest, body: Bytes) -> HttpResponse {
    serve(&sim, SimProvider::OpenAi, &req, &body).await
}

async fn anthropic_call(sim: web::Data<Simulator>, req: HttpRequest, body: Bytes) -> HttpResponse {
    serve(&sim, SimProvider::Anthropic, &req, &body).await
}

async fn gemini_call(sim: web::Data<Simulator>, req: HttpRequest, body: Bytes) -> HttpResponse {
    serve(&sim, SimProvider::Gemini, &req, &body).await
}

async fn mistral_call(sim: web::Data<Simulator>, req: HttpRequest, body: Bytes) -> HttpResponse {
    serve(&sim, SimProvider::Mistral, &req, &body).await
}

/// Record → check (auth, shape, model) → apply a fault → answer.
async fn serve(
    sim: &Simulator,
    provider: SimProvider,
    req: &HttpRequest,
    raw: &Bytes,
) -> HttpResponse {
    let body = parse_json(req, raw);
    let stream = match provider {
        SimProvider::Gemini => gemini::is_stream_path(req.path()),
        _ => body.as_ref().and_then(|b| b.get("stream")) == Some(&Value::Bool(true)),
    };
    sim.record(ReceivedRequest {
        provider,
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers: header_list(req),
        body: body.clone().unwrap_or(Value::Null),
        stream,
    });
    let incoming = Incoming {
        req,
        body: body.as_ref(),
        api_key: &sim.0.config.api_key,
    };
    let checked = match provider {
        SimProvider::OpenAi => openai::accept(&incoming),
        SimProvider::Anthropic => anthropic::accept(&incoming),
        SimProvider::Gemini => gemini::accept(&incoming),
        SimProvider::Mistral => mistral::accept(&incoming),
    };
    match checked {
        Ok(accepted) => {
            let fault = sim.take_fault(provider, &accepted.model);
            answer(provider, &accepted, fault).await
        }
        Err(rejection) => rejection.into_response(),
    }
}

fn parse_json(req: &HttpRequest, raw: &Bytes) -> Option<Value> {
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if is_json {
        serde_json::from_slice(raw).ok()
    } else {
        None
    }
}

fn header_list(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect()
}

async fn answer(
    provider: SimProvider,
    accepted: &Accepted,
    fault: Option<FaultKind>,
) -> HttpResponse {
    let mut plan = StreamPlan::default();
    let reply = match fault {
        None => Reply::text(provider.name(), accepted),
        Some(FaultKind::Status {
            status,
            retry_after_s,
        }) => return errors::for_status(provider, status, retry_after_s).into_response(),
        Some(FaultKind::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Reply::text(provider.name(), accepted)
        }
        Some(FaultKind::StreamDelay { ms }) => {
            plan.delay_ms = ms;
            Reply::text(provider.name(), accepted)
        }
        Some(FaultKind::CutStream { after_events }) => {
            plan.cut_after = Some(after_events);
            Reply::text(provider.name(), accepted)
        }
        Some(FaultKind::InStreamError) if !accepted.stream => {
            return errors::for_status(provider, 500, None).into_response()
        }
        Some(FaultKind::InStreamError) => {
            plan.in_stream_error = true;
            Reply::text(provider.name(), accepted)
        }
        Some(FaultKind::Garbage) => return errors::garbage(),
        Some(FaultKind::ToolCall { name, arguments }) => {
            tool_reply(provider, accepted, name, arguments)
        }
        Some(FaultKind::ContentFilter) if provider == SimProvider::Mistral => {
            Reply::text(provider.name(), accepted)
        }
        Some(FaultKind::ContentFilter) => Reply::filtered(accepted),
    };
    if accepted.stream {
        stream::respond(framed(provider, accepted, &reply), plan)
    } else {
        let body = rendered(provider, accepted, &reply);
        if plan.cut_after.is_some() {
            cut_body(&body)
        } else {
            HttpResponse::Ok().json(body)
        }
    }
}

fn tool_reply(provider: SimProvider, accepted: &Accepted, name: String, arguments: Value) -> Reply {
    let id = match provider {
        SimProvider::OpenAi => openai::tool_call_id(),
        SimProvider::Anthropic => anthropic::tool_use_id(),
        SimProvider::Gemini => String::new(),
        SimProvider::Mistral => mistral::tool_call_id(),
    };
    // Claude usually says a word before calling a tool; a gateway must not assume block 0.
    let preface = format!("[simulated anthropic {}] calling {name}", accepted.model);
    let preface = (provider == SimProvider::Anthropic).then_some(preface.as_str());
    let tool = reply::ToolCallReply {
        id,
        name,
        arguments,
    };
    Reply::tool_call(accepted, tool, preface)
}

fn rendered(provider: SimProvider, accepted: &Accepted, reply: &Reply) -> Value {
    match provider {
        SimProvider::OpenAi => openai::body(accepted, reply),
        SimProvider::Anthropic => anthropic::body(accepted, reply),
        SimProvider::Gemini => gemini::body(accepted, reply),
        SimProvider::Mistral => mistral::body(accepted, reply),
    }
}

fn framed(provider: SimProvider, accepted: &Accepted, reply: &Reply) -> stream::Framed {
    match provider {
        SimProvider::OpenAi => openai::framed(accepted, reply),
        SimProvider::Anthropic => anthropic::framed(accepted, reply),
        SimProvider::Gemini => gemini::framed(accepted, reply),
        SimProvider::Mistral => mistral::framed(accepted, reply),
    }
}

fn cut_body(body: &Value) -> HttpResponse {
    let text = body.to_string();
    let half: String = text.chars().take(text.chars().count() / 2).collect();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(half)
}
