//! From an HTTP request to a provider's answer: record it, let the provider module check it,
//! consume a matching fault, build the reply and render it (plain JSON or a stream).
//!
//! Validation and wire shapes belong to the provider modules; this file only sequences them
//! and applies faults, the same way for all four.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::Value;

use super::reply::{self, Accepted, Reply};
use super::stream::{self, StreamPlan};
use super::{anthropic, errors, gemini, mistral, openai};
use super::{FaultKind, ReceivedRequest, SimProvider, Simulator};

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

pub(super) async fn openai_call(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    body: Bytes,
) -> HttpResponse {
    serve(&sim, SimProvider::OpenAi, &req, &body).await
}

pub(super) async fn anthropic_call(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    body: Bytes,
) -> HttpResponse {
    serve(&sim, SimProvider::Anthropic, &req, &body).await
}

pub(super) async fn gemini_call(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    body: Bytes,
) -> HttpResponse {
    let action = req.match_info().get("model_action").unwrap_or("");
    if let Some(model) = action.strip_suffix(":batchEmbedContents") {
        return super::embeddings::gemini_batch(&sim, &req, &body, model);
    }
    serve(&sim, SimProvider::Gemini, &req, &body).await
}

pub(super) async fn mistral_call(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    body: Bytes,
) -> HttpResponse {
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

pub(super) fn header_list(req: &HttpRequest) -> Vec<(String, String)> {
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
        None if accepted.forced_tool.is_some() => forced_tool_reply(provider, accepted),
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

/// The call a forced tool gets: its input fits the tool's schema, no text before it.
fn forced_tool_reply(provider: SimProvider, accepted: &Accepted) -> Reply {
    let Some((name, schema)) = &accepted.forced_tool else {
        return Reply::text(provider.name(), accepted);
    };
    let text = Reply::text(provider.name(), accepted).joined();
    let tool = reply::ToolCallReply {
        id: anthropic::tool_use_id(),
        name: name.clone(),
        arguments: super::schema_sample::sample(schema, &text),
    };
    Reply::tool_call(accepted, tool, None)
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
