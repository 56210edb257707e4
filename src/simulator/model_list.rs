//! `GET` model lists, in each provider's own shape and behind its own key check: the
//! cheapest call a provider has, which `tollgate check-providers` and the 模型 page's
//! 测试连接 make.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::dispatch::Incoming;
use super::errors::Rejection;
use super::{anthropic, gemini, mistral, openai};
use super::{ReceivedRequest, SimProvider, Simulator};

/// Creation time shown for every simulated model (2025-01-01).
const CREATED: u64 = 1_735_689_600;

pub(super) async fn list(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    provider: web::Data<SimProvider>,
) -> HttpResponse {
    let provider = **provider;
    sim.record(ReceivedRequest {
        provider,
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers: super::dispatch::header_list(&req),
        body: Value::Null,
        stream: false,
    });
    let inc = Incoming {
        req: &req,
        body: None,
        api_key: &sim.0.config.api_key,
    };
    match answer(provider, &inc) {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(rejection) => rejection.into_response(),
    }
}

fn answer(provider: SimProvider, inc: &Incoming) -> Result<Value, Rejection> {
    Ok(match provider {
        SimProvider::OpenAi => {
            openai::check_auth(inc)?;
            let ids = openai::MODELS.iter().map(|(id, _, _)| *id);
            openai_list(ids, "openai")
        }
        SimProvider::Mistral => {
            if inc.bearer() != Some(inc.api_key) {
                return Err(Rejection::mistral_unauthorized());
            }
            openai_list(mistral::MODELS.iter().copied(), "mistralai")
        }
        SimProvider::Anthropic => {
            anthropic::check_headers(inc)?;
            let data: Vec<Value> = anthropic::MODELS
                .iter()
                .map(|(id, _, _)| {
                    json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"})
                })
                .collect();
            let first = data.first().map(|m| m["id"].clone());
            let last = data.last().map(|m| m["id"].clone());
            json!({"data": data, "has_more": false, "first_id": first, "last_id": last})
        }
        SimProvider::Gemini => {
            gemini::check_auth(inc)?;
            let models: Vec<Value> = gemini::MODELS
                .iter()
                .map(|(id, version, _)| {
                    json!({"name": format!("models/{id}"), "version": version, "displayName": id,
                           "supportedGenerationMethods": ["generateContent", "countTokens"]})
                })
                .collect();
            json!({"models": models})
        }
    })
}

fn openai_list<'a>(ids: impl Iterator<Item = &'a str>, owner: &str) -> Value {
    let data: Vec<Value> = ids
        .map(|id| json!({"id": id, "object": "model", "created": CREATED, "owned_by": owner}))
        .collect();
    json!({"object": "list", "data": data})
}
