//! The Anthropic Messages door (SPEC §10): `POST /v1/messages` (Claude Code, the
//! Anthropic SDKs) and `/v1/messages/count_tokens`, with the key in `x-api-key` or
//! `Authorization: Bearer`, Anthropic's error format, and the same admission, ticket and
//! ledger as every door (`call_type = anthropic_messages`).
//!
//! To an `anthropic` deployment (Anthropic, or an Anthropic-compatible endpoint) the
//! body goes through unchanged but for `model`, with the client's `anthropic-beta`, and
//! the answer comes back untouched (`passthrough.rs`); to any other provider it is
//! translated (`translate.rs`, `stream.rs`).

mod errors;
mod passthrough;
mod stream;
pub use stream::RawBody;
mod translate;

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{Map, Value};

use super::super::admission::{self, Ask};
use super::super::handler::{bearer, call_upstream, read_body, with_headers};
use super::super::router::Answer;
use super::super::ticket::{truncate_body, Outcome, Ticket};
use super::super::{ProviderKind, Usage};
use crate::app::AppState;
use crate::config::ModelKind;
use crate::domain::tokens;
use crate::error::AppError;
use stream::MessagesRelay;

/// Routes of the door (query strings such as `?beta=true` are ignored).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/messages", web::post().to(create))
        .route("/messages", web::post().to(create))
        .route("/v1/messages/count_tokens", web::post().to(count_tokens))
        .route("/messages/count_tokens", web::post().to(count_tokens));
}

/// An error in Anthropic's format, for the door's neighbours (the Anthropic-shaped
/// model list).
pub fn error_response(e: &AppError) -> HttpResponse {
    errors::response(e, &tokens::request_id(Utc::now().timestamp_millis()))
}

/// What the door answers once admitted.
enum Reply {
    /// A whole JSON message and its cost.
    Json(String, Usage),
    /// A stream, already carrying the ticket.
    Stream(Box<MessagesRelay>),
    /// An Anthropic deployment's error, forwarded as it came.
    Forwarded(u16, Vec<u8>, String),
}

/// The parts of a Messages body the gateway needs; the rest is passed on as it is.
struct Parsed {
    body: Map<String, Value>,
    model: String,
    max_tokens: u32,
    stream: bool,
}

/// Checks the fields every Messages request needs, with Anthropic's wording.
fn parse(raw: &[u8]) -> Result<Parsed, AppError> {
    let value: Value = serde_json::from_slice(raw).map_err(|e| {
        AppError::invalid(
            format!("There was an error parsing the body of your request: {e}"),
            None,
        )
    })?;
    let Value::Object(body) = value else {
        return Err(AppError::invalid(
            "The request body must be a JSON object",
            None,
        ));
    };
    let required = |field: &str| {
        body.get(field)
            .ok_or_else(|| AppError::invalid(format!("{field}: Field required"), Some(field)))
    };
    let model = match required("model")? {
        Value::String(m) if !m.is_empty() => m.clone(),
        _ => {
            return Err(AppError::invalid(
                "model: Input should be a valid string",
                Some("model"),
            ))
        }
    };
    let max_tokens = required("max_tokens")?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            AppError::invalid(
                "max_tokens: Input should be a valid integer",
                Some("max_tokens"),
            )
        })?;
    if !required("messages")?.is_array() {
        return Err(AppError::invalid(
            "messages: Input should be a valid list",
            Some("messages"),
        ));
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(AppError::invalid(
                "stream: Input should be a valid boolean",
                Some("stream"),
            ))
        }
    };
    Ok(Parsed {
        body,
        model,
        max_tokens,
        stream,
    })
}

async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    http: web::Data<super::super::Client>,
) -> HttpResponse {
    let request_id = tokens::request_id(Utc::now().timestamp_millis());
    let mut ticket = Ticket::open_for(
        state.clone(),
        request_id.clone(),
        "anthropic_messages",
        &req,
    );
    let server = &state.config.server;
    let timeout = std::time::Duration::from_secs(server.body_timeout_s.max(1));
    let result = match admission::authenticate(&state, bearer(&req), &mut ticket) {
        Ok(caller) => match read_body(payload, server.max_body_bytes, timeout).await {
            Ok(raw) => proceed(&req, &raw, &state, &http, &caller, &mut ticket).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let reply = match result {
        Ok(reply) => reply,
        Err(e) => {
            let outcome = Outcome {
                http_status: errors::parts(&e).0,
                error: Some(e.to_string()),
                usage: Usage::default(),
                response_body: None,
            };
            let remaining = ticket.refuse(outcome);
            let resp = errors::response(&e, &request_id);
            return with_headers(resp, &request_id, None, remaining);
        }
    };
    match reply {
        Reply::Json(text, usage) => {
            let outcome = Outcome {
                http_status: 200,
                error: None,
                usage,
                response_body: state.config.server.store_bodies.then(|| text.clone()),
            };
            match ticket.finish(outcome).await {
                Ok((cost, remaining)) => {
                    let resp = HttpResponse::Ok()
                        .content_type(ContentType::json())
                        .insert_header(("request-id", request_id.as_str()))
                        .body(text);
                    with_headers(resp, &request_id, Some(cost), remaining)
                }
                Err(e) => errors::response(&AppError::Unavailable(e.to_string()), &request_id),
            }
        }
        Reply::Stream(relay) => {
            let remaining = relay.key_remaining();
            let resp = HttpResponse::Ok()
                .content_type("text/event-stream")
                .insert_header(("cache-control", "no-cache"))
                .insert_header(("x-accel-buffering", "no"))
                .insert_header(("request-id", request_id.as_str()))
                .streaming(*relay);
            with_headers(resp, &request_id, None, remaining)
        }
        Reply::Forwarded(status, body, message) => {
            let outcome = Outcome {
                http_status: status,
                error: Some(message),
                usage: Usage::default(),
                response_body: None,
            };
            let remaining = ticket.refuse(outcome);
            let code = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
            let resp = HttpResponse::build(code)
                .content_type(ContentType::json())
                .insert_header(("request-id", request_id.as_str()))
                .body(body);
            with_headers(resp, &request_id, None, remaining)
        }
    }
}

async fn proceed(
    req: &HttpRequest,
    raw: &[u8],
    state: &web::Data<AppState>,
    http: &super::super::Client,
    caller: &crate::domain::directory::Caller,
    ticket: &mut Ticket,
) -> Result<Reply, AppError> {
    let parsed = parse(raw)?;
    ticket.stream = parsed.stream;
    if state.config.server.store_bodies {
        ticket.request_body = Some(truncate_body(&String::from_utf8_lossy(raw)));
    }
    let prompt_estimate = admission::estimate_tokens(&Value::Object(parsed.body.clone()));
    let ask = Ask {
        model: &parsed.model,
        prompt_estimate,
        max_tokens: Some(parsed.max_tokens),
        choices: 1,
        kind: ModelKind::Chat,
    };
    let group = admission::admit(state, caller, &ask, ticket)?;
    let order = group.order(Utc::now().timestamp());
    if order
        .first()
        .is_some_and(|d| d.upstream.provider == ProviderKind::Anthropic)
    {
        return passthrough::call(http, &order, req, parsed, ticket, prompt_estimate).await;
    }
    let mut chat = translate::to_chat(&parsed.body)?;
    // Claude Code always asks for 32,000 output tokens; other providers' models refuse
    // more than they can produce, so the request is capped at the deployments' limit.
    let cap = group
        .deployments
        .iter()
        .map(|d| d.price.max_output_tokens)
        .min();
    if let (Some(requested), Some(cap)) = (chat.max_tokens, cap) {
        chat.max_tokens = Some(requested.min(cap.max(1)));
    }
    let called = call_upstream(http, group, chat, ticket, prompt_estimate).await?;
    match called.answer {
        Answer::Complete(resp) => {
            let message = translate::message_from_chat(&resp, &parsed.model);
            Ok(Reply::Json(message.to_string(), resp.usage))
        }
        Answer::Stream(chunks) => Ok(Reply::Stream(Box::new(MessagesRelay::translated(
            chunks,
            ticket.take(),
            &parsed.model,
            prompt_estimate,
        )))),
    }
}

/// `POST /v1/messages/count_tokens`: authenticated, never charged. Forwarded to an
/// Anthropic deployment; otherwise (or when it has no such endpoint) estimated.
async fn count_tokens(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    http: web::Data<super::super::Client>,
) -> HttpResponse {
    let request_id = tokens::request_id(Utc::now().timestamp_millis());
    match counted(&req, &body, &state, &http).await {
        Ok(n) => HttpResponse::Ok()
            .insert_header(("request-id", request_id.as_str()))
            .json(serde_json::json!({"input_tokens": n})),
        Err(e) => errors::response(&e, &request_id),
    }
}

async fn counted(
    req: &HttpRequest,
    raw: &[u8],
    state: &AppState,
    http: &super::super::Client,
) -> Result<u64, AppError> {
    let caller = state
        .directory
        .authenticate(&bearer(req)?, Utc::now().timestamp_millis())
        .map_err(|refusal| AppError::Authentication(refusal.message().into()))?;
    let value: Value = serde_json::from_slice(raw).map_err(|e| {
        AppError::invalid(
            format!("There was an error parsing the body of your request: {e}"),
            None,
        )
    })?;
    let model = value
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| AppError::invalid("model: Field required", Some("model")))?;
    if !value.get("messages").is_some_and(Value::is_array) {
        return Err(AppError::invalid(
            "messages: Field required",
            Some("messages"),
        ));
    }
    let group = state.router.group(model).ok_or_else(|| {
        AppError::ModelNotFound(format!(
            "model: {}",
            admission::printable(&model.chars().take(100).collect::<String>())
        ))
    })?;
    if !caller.may_use(&group.name) {
        return Err(AppError::ModelNotAllowed(format!(
            "This API key is not allowed to use the model `{}`",
            group.name
        )));
    }
    if let Some(d) = group
        .deployments
        .iter()
        .find(|d| d.upstream.provider == ProviderKind::Anthropic)
    {
        if let Some(n) = passthrough::count_tokens(http, d, req, &value).await {
            return Ok(n);
        }
    }
    Ok(
        admission::estimate_tokens(value.get("messages").unwrap_or(&Value::Null))
            + admission::estimate_tokens(value.get("system").unwrap_or(&Value::Null))
            + admission::estimate_tokens(value.get("tools").unwrap_or(&Value::Null)),
    )
}
