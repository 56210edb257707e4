//! The OpenAI Responses door (SPEC §11): `POST /v1/responses` (Codex CLI, the Agents
//! SDK), with the Bearer key, OpenAI's error format, and the same admission, ticket and
//! ledger as every door (`call_type = aresponses`). To an `openai` deployment the body
//! goes through unchanged but for `model` and the answer comes back untouched
//! (encrypted reasoning, hosted tools); to any other provider it is translated.
//!
//! Not yet here: stored responses. Every request is answered as with `store: false`
//! (what Codex sends); `previous_response_id` and `GET`/`DELETE /v1/responses/{id}` are
//! answered with a clear error instead of a silent wrong answer.

mod stream;
mod translate;

use std::time::{Duration, Instant};

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use serde_json::{Map, Value};

use super::super::admission::{self, Ask};
use super::super::handler::{bearer, call_upstream, read_body, with_headers};
use super::super::router::{Answer, Deployment};
use super::super::ticket::{truncate_body, Outcome, Ticket};
use super::super::{Client, ProviderKind, Usage};
use super::upstream;
use crate::app::AppState;
use crate::config::ModelKind;
use crate::domain::tokens;
use crate::error::AppError;
use stream::ResponsesRelay;

/// Routes of the door.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in ["/v1", ""] {
        cfg.route(&format!("{prefix}/responses"), web::post().to(create))
            .route(&format!("{prefix}/responses"), web::get().to(no_websocket))
            .route(
                &format!("{prefix}/responses/{{id}}"),
                web::get().to(not_stored),
            )
            .route(
                &format!("{prefix}/responses/{{id}}"),
                web::delete().to(not_stored),
            )
            .route(
                &format!("{prefix}/responses/{{id}}/input_items"),
                web::get().to(not_stored),
            );
    }
}

/// Codex may try a WebSocket first: answered with an HTTP error, so it falls back to
/// POST.
async fn no_websocket() -> HttpResponse {
    AppError::invalid(
        "This gateway answers the Responses API over HTTP POST only (no WebSocket)",
        None,
    )
    .error_response()
}

async fn not_stored(path: web::Path<String>) -> HttpResponse {
    AppError::NotFound(format!(
        "No response with id `{}` is stored: this gateway answers every request as with `store: false`",
        admission::printable(&path.chars().take(100).collect::<String>())
    ))
    .error_response()
}

enum Reply {
    Json(String, Usage),
    Stream(Box<ResponsesRelay>),
    Forwarded(u16, Vec<u8>, String),
}

async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    http: web::Data<Client>,
) -> HttpResponse {
    let request_id = tokens::request_id(Utc::now().timestamp_millis());
    let mut ticket = Ticket::open_for(state.clone(), request_id.clone(), "aresponses", &req);
    let server = &state.config.server;
    let timeout = Duration::from_secs(server.body_timeout_s.max(1));
    let result = match admission::authenticate(&state, bearer(&req), &mut ticket) {
        Ok(caller) => match read_body(payload, server.max_body_bytes, timeout).await {
            Ok(raw) => proceed(&raw, &state, &http, &caller, &mut ticket).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Err(e) => {
            let outcome = Outcome {
                http_status: e.parts().0,
                error: Some(e.to_string()),
                usage: Usage::default(),
                response_body: None,
            };
            let remaining = ticket.refuse(outcome);
            with_headers(e.error_response(), &request_id, None, remaining)
        }
        Ok(Reply::Json(text, usage)) => {
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
                        .body(text);
                    with_headers(resp, &request_id, Some(cost), remaining)
                }
                Err(e) => with_headers(
                    AppError::Unavailable(e.to_string()).error_response(),
                    &request_id,
                    None,
                    None,
                ),
            }
        }
        Ok(Reply::Stream(relay)) => {
            let remaining = relay.key_remaining();
            let resp = HttpResponse::Ok()
                .content_type("text/event-stream")
                .insert_header(("cache-control", "no-cache"))
                .insert_header(("x-accel-buffering", "no"))
                .streaming(*relay);
            with_headers(resp, &request_id, None, remaining)
        }
        Ok(Reply::Forwarded(status, body, message)) => {
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
                .body(body);
            with_headers(resp, &request_id, None, remaining)
        }
    }
}

/// The fields the gateway needs; the rest is passed on or translated.
fn parse(raw: &[u8]) -> Result<(Map<String, Value>, String, bool), AppError> {
    let value: Value = serde_json::from_slice(raw).map_err(|e| {
        AppError::invalid(
            format!("We could not parse the JSON body of your request: {e}"),
            None,
        )
    })?;
    let Value::Object(body) = value else {
        return Err(AppError::invalid(
            "The request body must be a JSON object.",
            None,
        ));
    };
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => {
            return Err(AppError::invalid(
                "Missing required parameter: 'model'.",
                Some("model"),
            ))
        }
    };
    if !matches!(body.get("input"), Some(Value::String(_) | Value::Array(_))) {
        return Err(AppError::invalid(
            "Missing required parameter: 'input' (a string or a list of items).",
            Some("input"),
        ));
    }
    if body
        .get("previous_response_id")
        .is_some_and(|v| !v.is_null())
    {
        return Err(AppError::invalid(
            "previous_response_id is not supported by this gateway yet: send the conversation as input items (as Codex does with store: false)",
            Some("previous_response_id"),
        ));
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(AppError::invalid(
                "'stream' must be a boolean",
                Some("stream"),
            ))
        }
    };
    if let Some(m) = body.get("max_output_tokens").filter(|v| !v.is_null()) {
        if m.as_u64().is_none_or(|n| n < 16 || n > u64::from(u32::MAX)) {
            return Err(AppError::invalid(
                "'max_output_tokens' must be an integer of at least 16",
                Some("max_output_tokens"),
            ));
        }
    }
    Ok((body, model, stream))
}

async fn proceed(
    raw: &[u8],
    state: &web::Data<AppState>,
    http: &Client,
    caller: &crate::domain::directory::Caller,
    ticket: &mut Ticket,
) -> Result<Reply, AppError> {
    let (body, model, stream) = parse(raw)?;
    ticket.stream = stream;
    if state.config.server.store_bodies {
        ticket.request_body = Some(truncate_body(&String::from_utf8_lossy(raw)));
    }
    let estimate_of = |k: &str| body.get(k).map_or(0, admission::estimate_tokens);
    let prompt_estimate = estimate_of("input") + estimate_of("instructions") + estimate_of("tools");
    let max_tokens = body
        .get("max_output_tokens")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok());
    let ask = Ask {
        model: &model,
        prompt_estimate,
        max_tokens,
        choices: 1,
        kind: ModelKind::Chat,
    };
    let group = admission::admit(state, caller, &ask, ticket)?;
    let order = group.order(Utc::now().timestamp());
    if let Some(d) = order
        .first()
        .filter(|d| d.upstream.provider == ProviderKind::OpenAi)
    {
        return passthrough(http, d, body, stream, ticket, prompt_estimate).await;
    }
    let translated = translate::to_chat(&body)?;
    if !translated.dropped_tools.is_empty() {
        tracing::info!(request_id = %ticket.request_id, dropped = ?translated.dropped_tools, "hosted tools left out for a non-OpenAI provider");
    }
    let mut chat = translated.chat;
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
            let object = translate::response_from_chat(&resp, &model, &translated.custom_tools);
            Ok(Reply::Json(object.to_string(), resp.usage))
        }
        Answer::Stream(chunks) => Ok(Reply::Stream(Box::new(ResponsesRelay::translated(
            chunks,
            ticket.take(),
            &model,
            translated.custom_tools,
            prompt_estimate,
        )))),
    }
}

/// The body to an OpenAI deployment with only `model` replaced; the answer as it came.
async fn passthrough(
    http: &Client,
    d: &Deployment,
    mut body: Map<String, Value>,
    stream: bool,
    ticket: &mut Ticket,
    prompt_estimate: u64,
) -> Result<Reply, AppError> {
    ticket.deployment = Some((d.upstream.provider.as_str(), d.index));
    ticket.price = Some(d.price);
    let key = d.upstream.api_key.as_deref().filter(|k| !k.is_empty()).ok_or_else(|| {
        AppError::BadGateway("no provider API key is configured for this model; ask the administrator to set it in config.toml".into())
    })?;
    body.insert("model".into(), Value::String(d.upstream.model_id.clone()));
    let bytes = serde_json::to_vec(&body).map_err(|e| AppError::Internal(e.to_string()))?;
    let url = format!("{}/responses", d.upstream.api_base.trim_end_matches('/'));
    let auth = format!("Bearer {key}");
    let started = Instant::now();
    d.window.count_request(Utc::now().timestamp());
    let resp = http
        .post_json(
            d.upstream.route,
            &url,
            &[("authorization", &auth)],
            bytes,
            d.upstream.timeout,
        )
        .await
        .map_err(|e| upstream::client_error(e).0)?;
    ticket.upstream_s = Some(started.elapsed().as_secs_f64());
    let status = resp.status;
    if (200..300).contains(&status) && stream {
        return Ok(Reply::Stream(Box::new(ResponsesRelay::passthrough(
            Box::pin(resp.body()),
            ticket.take(),
            prompt_estimate,
        ))));
    }
    let limit = if (200..300).contains(&status) {
        upstream::BODY_LIMIT
    } else {
        upstream::ERROR_LIMIT
    };
    let raw = upstream::read_all(resp, limit, d.upstream.timeout).await?;
    let text = String::from_utf8_lossy(&raw).replace(key, "***");
    if (200..300).contains(&status) {
        let usage = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| stream::usage_of(&v["usage"]))
            .unwrap_or_default();
        return Ok(Reply::Json(text, usage));
    }
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("the provider answered HTTP {status}"));
    Ok(Reply::Forwarded(status, text.into_bytes(), message))
}
