//! `POST /chat/completions` and `GET /models`: authenticate the virtual key from
//! memory, validate, check model and limits, reserve the worst-case cost, call the
//! provider through the router, and answer in OpenAI's format with the request's
//! cost. Every outcome, refusals included, goes through the request's [`Ticket`].

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::admission;
use super::relay::Relay;
use super::router::{Answer, Failure};
use super::ticket::{truncate_body, Outcome, Ticket};
use super::{ChatRequest, UpstreamError, Usage};
use crate::app::AppState;
use crate::domain::directory::Caller;
use crate::domain::tokens;
use crate::error::AppError;
use crate::money::Nanos;

/// Routes of the proxy.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/chat/completions", web::post().to(chat_completions))
        .route("/v1/chat/completions", web::post().to(chat_completions))
        .route("/models", web::get().to(list_models))
        .route("/v1/models", web::get().to(list_models))
        .route("/models/{id:.+}", web::get().to(get_model))
        .route("/v1/models/{id:.+}", web::get().to(get_model));
}

/// The virtual key of a proxy request: `Authorization: Bearer sk-…`, or `x-api-key`
/// (Anthropic's SDKs and Claude Code with `ANTHROPIC_API_KEY`).
pub(crate) fn bearer(req: &HttpRequest) -> Result<String, AppError> {
    let headers = req.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let from_authorization = text("authorization").map(|value| {
        value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value)
            .trim()
    });
    let candidates = [from_authorization, text("x-api-key").map(str::trim)];
    if candidates.iter().all(Option::is_none) {
        return Err(AppError::Authentication(
            "Missing API key: send `Authorization: Bearer sk-...` or `x-api-key: sk-...`".into(),
        ));
    }
    // Claude Code's apiKeyHelper sends both headers: the one holding a virtual key wins.
    candidates
        .into_iter()
        .flatten()
        .find(|t| t.starts_with("sk-") && t.len() <= 200)
        .map(str::to_string)
        .ok_or_else(|| {
            AppError::Authentication(
                "Malformed API key: expected `Authorization: Bearer sk-...`".into(),
            )
        })
}

fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Caller, AppError> {
    let secret = bearer(req)?;
    state
        .directory
        .authenticate(&secret, Utc::now().timestamp_millis())
        .map_err(|refusal| AppError::Authentication(refusal.message().into()))
}

/// `GET /models`: the models the key may use. Asked with `x-api-key` or
/// `anthropic-version` (the Anthropic SDKs), in Anthropic's list shape; otherwise in
/// OpenAI's, each item also carrying Anthropic's fields so a client that sends a
/// Bearer key but reads Anthropic's shape (Claude Code's model discovery) is served.
async fn list_models(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let anthropic =
        req.headers().contains_key("x-api-key") || req.headers().contains_key("anthropic-version");
    let caller = match authenticate(&state, &req) {
        Ok(caller) => caller,
        Err(e) if anthropic => return super::doors::messages::error_response(&e),
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let names: Vec<&String> = state
        .router
        .names()
        .iter()
        .filter(|n| caller.may_use(n))
        .collect();
    let data: Vec<serde_json::Value> = names
        .iter()
        .map(|n| model_item(n, anthropic, state.started_at))
        .collect();
    let mut list = serde_json::json!({"data": data, "has_more": false,
        "first_id": names.first(), "last_id": names.last()});
    if !anthropic {
        list["object"] = "list".into();
    }
    HttpResponse::Ok().json(list)
}

/// One model as `GET /models` lists it: Anthropic's fields, and OpenAI's unless asked
/// in Anthropic's shape.
fn model_item(name: &str, anthropic: bool, created: i64) -> serde_json::Value {
    let created_at = chrono::DateTime::from_timestamp(created, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut m = serde_json::json!({"type": "model", "id": name, "display_name": name, "created_at": created_at,
        "lifecycle": {"status": "active"}});
    if !anthropic {
        m["object"] = "model".into();
        m["created"] = created.into();
        m["owned_by"] = "tollgate".into();
    }
    m
}

/// `GET /models/{id}` (`models.retrieve`): the model, named as asked (a name or an
/// alias), when the key may use it; otherwise 404 `model_not_found`.
async fn get_model(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let anthropic =
        req.headers().contains_key("x-api-key") || req.headers().contains_key("anthropic-version");
    let refuse = |e: AppError| {
        if anthropic {
            super::doors::messages::error_response(&e)
        } else {
            actix_web::ResponseError::error_response(&e)
        }
    };
    let caller = match authenticate(&state, &req) {
        Ok(caller) => caller,
        Err(e) => return refuse(e),
    };
    let id = req.match_info().get("id").unwrap_or_default();
    match state.router.group(id).filter(|g| caller.may_use(&g.name)) {
        Some(_) => HttpResponse::Ok().json(model_item(id, anthropic, state.started_at)),
        None => refuse(AppError::ModelNotFound(format!(
            "The model `{}` does not exist or you do not have access to it.",
            super::admission::printable(id)
        ))),
    }
}

/// `POST /chat/completions`.
async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    http: web::Data<super::Client>,
) -> HttpResponse {
    let request_id = tokens::request_id(Utc::now().timestamp_millis());
    let mut ticket = Ticket::open_for(state.clone(), request_id.clone(), "acompletion", &req);
    let limit = state.config.server.max_body_bytes;
    let timeout = std::time::Duration::from_secs(state.config.server.body_timeout_s.max(1));
    let result = match admission::authenticate(&state, bearer(&req), &mut ticket) {
        Ok(caller) => match read_body(payload, limit, timeout).await {
            Ok(body) => proceed(&req, &body, &state, &http, &caller, &mut ticket).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let response = match result {
        Ok(Called {
            answer: Answer::Complete(resp),
            ..
        }) => {
            let text = resp.to_openai_string();
            let outcome = Outcome {
                http_status: 200,
                error: None,
                usage: resp.usage,
                response_body: state.config.server.store_bodies.then(|| text.clone()),
            };
            match ticket.finish(outcome).await {
                Ok((cost, remaining)) => {
                    let http = HttpResponse::Ok()
                        .content_type(ContentType::json())
                        .body(text);
                    with_headers(http, &request_id, Some(cost), remaining)
                }
                // The row is still written when the database recovers; the client is
                // told to retry rather than handed an answer that is not yet charged.
                Err(e) => {
                    let error = AppError::Unavailable(e.to_string());
                    with_headers(
                        actix_web::ResponseError::error_response(&error),
                        &request_id,
                        None,
                        None,
                    )
                }
            }
        }
        Ok(Called {
            answer: Answer::Stream(chunks),
            include_usage,
            prompt_estimate,
        }) => {
            let remaining = ticket.key_remaining();
            let keep = state.config.server.store_bodies;
            let relay = Relay::new(chunks, ticket, include_usage, prompt_estimate, keep);
            let mut head = HttpResponse::Ok();
            head.content_type("text/event-stream")
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .insert_header(("x-accel-buffering", "no"));
            let resp = relay.respond(head);
            with_headers(resp, &request_id, None, remaining)
        }
        Err(error) => {
            if matches!(error, AppError::BudgetExceeded { .. }) {
                state.metrics.budget_refused();
            }
            let status = error.parts().0;
            let message = error.to_string();
            let resp = actix_web::ResponseError::error_response(&error);
            let outcome = Outcome {
                http_status: status,
                error: Some(message),
                usage: Usage::default(),
                response_body: None,
            };
            let remaining = ticket.refuse(outcome);
            with_headers(resp, &request_id, Some(Nanos::ZERO), remaining)
        }
    };
    // Answers leave in bursts too (see `Client::post_json`): clients waiting on this
    // worker are woken once for several answers rather than once each.
    tokio::task::yield_now().await;
    response
}

pub(crate) fn with_headers(
    mut resp: HttpResponse,
    request_id: &str,
    cost: Option<Nanos>,
    remaining: Option<Nanos>,
) -> HttpResponse {
    let h = resp.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = header::HeaderValue::from_str(value) {
            h.insert(header::HeaderName::from_static(name), v);
        }
    };
    put("x-request-id", request_id);
    if let Some(c) = cost {
        put("x-tollgate-cost", &c.format_usd(9));
    }
    if let Some(r) = remaining {
        put("x-tollgate-key-remaining", &r.format_usd(6));
    }
    resp
}

/// Reads the body up to `limit` bytes within `timeout`; larger bodies are refused with
/// 413 and slower ones with 408, in OpenAI's format.
pub(crate) async fn read_body(
    payload: web::Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<web::Bytes, AppError> {
    tokio::time::timeout(timeout, read_body_untimed(payload, limit))
        .await
        .unwrap_or_else(|_| {
            Err(AppError::RequestTimeout(format!(
                "The request body did not arrive within {} s",
                timeout.as_secs()
            )))
        })
}

async fn read_body_untimed(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, AppError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::invalid(format!("could not read the request body: {e}"), None)
        })?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge(format!(
                "The request body is larger than the {limit} bytes this gateway accepts"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A provider answered.
pub(crate) struct Called {
    pub(crate) answer: Answer,
    pub(crate) include_usage: bool,
    pub(crate) prompt_estimate: u64,
}

async fn proceed(
    req: &HttpRequest,
    body: &[u8],
    state: &web::Data<AppState>,
    http: &super::Client,
    caller: &Caller,
    ticket: &mut Ticket,
) -> Result<Called, AppError> {
    check_content_type(req, body)?;
    let chat = ChatRequest::parse(body).map_err(|e| AppError::InvalidRequest {
        message: e.message,
        param: e.param,
    })?;
    ticket.stream = chat.stream;
    if state.config.server.store_bodies {
        ticket.request_body = Some(truncate_body(&String::from_utf8_lossy(body)));
    }
    let prompt_estimate = chat.estimate_prompt_tokens();
    let ask = admission::Ask {
        model: &chat.model,
        prompt_estimate,
        max_tokens: chat.requested_max_tokens(),
        choices: chat.choices(),
        kind: crate::config::ModelKind::Chat,
    };
    let group = admission::admit(state, caller, &ask, ticket)?;
    call_upstream(http, group, chat, ticket, prompt_estimate).await
}

/// JSON bodies only. curl's default `application/x-www-form-urlencoded` (a forgotten
/// `-H`) is accepted when the body is a JSON object, as other gateways do.
fn check_content_type(req: &HttpRequest, body: &[u8]) -> Result<(), AppError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let ct = ct.to_ascii_lowercase();
    let looks_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if ct.starts_with("application/json")
        || (ct.starts_with("application/x-www-form-urlencoded") && looks_json)
    {
        Ok(())
    } else {
        Err(AppError::invalid(
            format!("Unsupported content type `{ct}`: send `Content-Type: application/json`"),
            None,
        ))
    }
}

pub(crate) async fn call_upstream(
    http: &super::Client,
    group: &super::router::ModelGroup,
    chat: ChatRequest,
    ticket: &mut Ticket,
    prompt_estimate: u64,
) -> Result<Called, AppError> {
    let now_s = Utc::now().timestamp();
    let started = std::time::Instant::now();
    let result = group.call(http, &chat, now_s).await;
    ticket.upstream_s = Some(started.elapsed().as_secs_f64());
    match result {
        Ok((answer, d)) => {
            ticket.deployment = Some((d.upstream.provider.as_str(), d.index));
            ticket.price = Some(d.price);
            d.window.count_tokens(now_s, prompt_estimate);
            Ok(Called {
                answer,
                include_usage: chat.include_usage,
                prompt_estimate,
            })
        }
        Err(Failure { error, deployment }) => {
            ticket.deployment = Some((deployment.upstream.provider.as_str(), deployment.index));
            Err(upstream_error(&chat.model, error))
        }
    }
}

/// Translates a final upstream failure into the client's error (SPEC §6).
fn upstream_error(model: &str, error: UpstreamError) -> AppError {
    match error {
        UpstreamError::Status { status, message, kind, retry_after } => AppError::Upstream {
            status,
            message: format!("{model}: {message}"),
            error_type: kind.openai_type(),
            retry_after_s: retry_after.map(|d| d.as_secs().max(1)),
        },
        UpstreamError::Timeout => AppError::GatewayTimeout(format!("{model}: the provider did not answer in time")),
        UpstreamError::Connect(e) => AppError::BadGateway(format!("{model}: could not reach the provider ({e})")),
        UpstreamError::Protocol(e) => AppError::BadGateway(format!("{model}: the provider sent an invalid response ({e})")),
        UpstreamError::Interrupted(e) => AppError::BadGateway(format!("{model}: {e}")),
        UpstreamError::MissingKey => AppError::BadGateway(format!(
            "{model}: no provider API key is configured for this model; ask the administrator to set it in config.toml"
        )),
        UpstreamError::InvalidRequest(m) => AppError::invalid(format!("{model}: {m}"), None),
    }
}
