//! Strict in-process fake of the four upstream providers (OpenAI, Anthropic, Gemini, Mistral).
//!
//! Written from PROVIDERS.md only, never from the gateway's translation code, so a test can
//! disagree with the gateway. One HTTP server serves all four under their own prefix
//! (`/openai/v1`, `/anthropic`, `/gemini`, `/mistral/v1`), validates like the real APIs, answers
//! deterministically, records every request and misbehaves on demand (queued [`Fault`]s, also
//! settable over HTTP at `/_sim/faults`). Each also lists its models (`GET …/models`). It deliberately does not model pricing, rate limits
//! over time, images' content or anything beyond one chat/messages/generateContent call.
//!
//! A gateway points each provider's `api_base` at the prefix: `http://ADDR/openai/v1`,
//! `http://ADDR/anthropic`, `http://ADDR/gemini`, `http://ADDR/mistral/v1`, with the key of
//! [`SimulatorConfig`] (default [`DEFAULT_API_KEY`]). Faults are consumed only by requests that
//! pass every check, so a malformed request is always reported as such. Control routes:
//! `POST`/`DELETE /_sim/faults`, `GET`/`DELETE /_sim/received`, and `GET /health`.

mod anthropic;
mod anthropic_blocks;
mod dispatch;
mod embeddings;
mod errors;
mod fault;
mod gemini;
mod gemini_checks;
mod gemini_tools;
mod logprobs;
mod mistral;
mod model_list;
mod openai;
mod openai_messages;
mod reply;
mod rerank;
mod responses;
mod schema_sample;
mod stream;
mod tokens;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use dispatch::{anthropic_call, gemini_call, mistral_call, openai_call};
pub use fault::{Fault, FaultKind};

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
    /// Headers, names lowercase (order not significant).
    pub headers: Vec<(String, String)>,
    /// Parsed JSON body; `Null` when it was not JSON.
    pub body: Value,
    /// Whether a stream was asked for (`"stream": true`, or Gemini's `:streamGenerateContent`).
    pub stream: bool,
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
        self.bind_with(listen, None)
    }

    /// The same over TLS with `tls` (HTTP/2 and HTTP/1.1 offered by ALPN): a real HTTPS
    /// provider for the tests of trust stores, HTTP/2 and CONNECT proxies.
    pub fn bind_tls(
        &self,
        listen: &str,
        tls: rustls::ServerConfig,
    ) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
        self.bind_with(listen, Some(tls))
    }

    fn bind_with(
        &self,
        listen: &str,
        tls: Option<rustls::ServerConfig>,
    ) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
        let data = web::Data::new(self.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .configure(routes)
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1);
        let server = match tls {
            Some(tls) => server.bind_rustls_0_23(listen, tls)?,
            None => server.bind(listen)?,
        };
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

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/openai/v1/chat/completions", web::post().to(openai_call))
        .route("/anthropic/v1/messages", web::post().to(anthropic_call))
        .route("/openai/v1/responses", web::post().to(responses::create))
        .route(
            "/openai/v1/embeddings",
            web::post().to(embeddings::openai_style),
        )
        .route(
            "/mistral/v1/embeddings",
            web::post().to(embeddings::openai_style),
        )
        .route("/cohere/v2/rerank", web::post().to(rerank::cohere))
        .route("/openai/v1/rerank", web::post().to(rerank::jina))
        .route("/tei/rerank", web::post().to(rerank::tei))
        .route(
            "/gemini/v1beta/models/{model_action}",
            web::post().to(gemini_call),
        )
        .route("/mistral/v1/chat/completions", web::post().to(mistral_call))
        .service(model_list_route("/openai/v1/models", SimProvider::OpenAi))
        .service(model_list_route(
            "/anthropic/v1/models",
            SimProvider::Anthropic,
        ))
        .service(model_list_route(
            "/gemini/v1beta/models",
            SimProvider::Gemini,
        ))
        .service(model_list_route("/mistral/v1/models", SimProvider::Mistral))
        .route("/_sim/faults", web::post().to(add_fault))
        .route("/_sim/faults", web::delete().to(delete_faults))
        .route("/_sim/received", web::get().to(list_received))
        .route("/_sim/received", web::delete().to(delete_received));
}

/// `GET path`: `provider`'s model list.
fn model_list_route(path: &str, provider: SimProvider) -> actix_web::Resource {
    web::resource(path)
        .app_data(web::Data::new(provider))
        .route(web::get().to(model_list::list))
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
