//! The embeddings door (SPEC §12): `POST /v1/embeddings` in OpenAI's format to
//! `openai`, `openai_compatible`, `mistral` and `gemini` (`batchEmbedContents`) models
//! of kind `embedding`, with the same admission, ticket and ledger as chat
//! (`call_type = aembedding`, priced at the input price). The gateway asks providers
//! for floats and encodes `base64` itself (the OpenAI SDKs ask for it by default, and
//! the Node SDK turns a float array into zeros); inputs are split to the provider's
//! batch limit and the answers joined in order; token-array input goes only to the
//! OpenAI-style providers, which accept it.

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Value};

use super::json_door;
use super::upstream::{self, Failure};
use crate::app::AppState;
use crate::config::ModelKind;
use crate::domain::directory::Caller;
use crate::error::AppError;
use crate::proxy::admission::{self, Ask};
use crate::proxy::client::Client;
use crate::proxy::router::Deployment;
use crate::proxy::ticket::Ticket;
use crate::proxy::{ProviderKind, Usage};

/// Inputs accepted in one request (OpenAI's limit).
const MAX_INPUTS: usize = 2048;
/// Gemini takes at most this many requests per `batchEmbedContents`.
const GEMINI_BATCH: usize = 100;
/// DashScope's OpenAI-compatible embeddings take at most this many inputs a call.
const DASHSCOPE_BATCH: usize = 10;

/// Routes of the door.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/embeddings", web::post().to(create))
        .route("/embeddings", web::post().to(create));
}

/// One input: a text, or token ids.
#[derive(Debug, Clone, PartialEq)]
enum Input {
    Text(String),
    Tokens(Vec<u64>),
}

impl Input {
    fn json(&self) -> Value {
        match self {
            Input::Text(t) => Value::String(t.clone()),
            Input::Tokens(ids) => json!(ids),
        }
    }

    fn estimate(&self) -> u64 {
        match self {
            Input::Text(t) => admission::estimate_tokens(&Value::String(t.clone())),
            Input::Tokens(ids) => ids.len() as u64,
        }
    }
}

/// What the client asked for.
#[derive(Debug)]
struct Request {
    model: String,
    input: Vec<Input>,
    base64: bool,
    dimensions: Option<u64>,
    user: Option<String>,
}

impl Request {
    fn has_tokens(&self) -> bool {
        self.input.iter().any(|i| matches!(i, Input::Tokens(_)))
    }
}

fn parse(raw: &[u8]) -> Result<Request, AppError> {
    let body: Value = serde_json::from_slice(raw).map_err(|e| {
        AppError::invalid(
            format!("We could not parse the JSON body of your request: {e}"),
            None,
        )
    })?;
    if !body.is_object() {
        return Err(AppError::invalid(
            "The request body must be a JSON object",
            None,
        ));
    }
    let model = body["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| AppError::invalid("you must provide a model parameter", Some("model")))?
        .to_string();
    let input = parse_input(&body["input"])?;
    if input.len() > MAX_INPUTS {
        return Err(AppError::invalid(
            format!("'input' may hold at most {MAX_INPUTS} items"),
            Some("input"),
        ));
    }
    let base64 = match &body["encoding_format"] {
        Value::Null => false,
        Value::String(f) if f == "float" => false,
        Value::String(f) if f == "base64" => true,
        _ => {
            return Err(AppError::invalid(
                "'encoding_format' must be 'float' or 'base64'",
                Some("encoding_format"),
            ))
        }
    };
    let dimensions = match &body["dimensions"] {
        Value::Null => None,
        v => Some(v.as_u64().filter(|d| *d >= 1).ok_or_else(|| {
            AppError::invalid(
                "'dimensions' must be a positive integer",
                Some("dimensions"),
            )
        })?),
    };
    let user = body["user"].as_str().map(str::to_string);
    Ok(Request {
        model,
        input,
        base64,
        dimensions,
        user,
    })
}

/// `input`: a string, strings, one token array or token arrays — nothing empty.
fn parse_input(v: &Value) -> Result<Vec<Input>, AppError> {
    let bad = |why: &str| {
        AppError::invalid(
            format!("'input' {why}: send a non-empty string, a list of strings, a token array or a list of token arrays"),
            Some("input"),
        )
    };
    let tokens = |items: &[Value]| -> Option<Vec<u64>> {
        (!items.is_empty())
            .then(|| {
                items
                    .iter()
                    .map(Value::as_u64)
                    .collect::<Option<Vec<u64>>>()
            })
            .flatten()
    };
    match v {
        Value::Null => Err(bad("is missing")),
        Value::String(s) if s.is_empty() => Err(bad("is an empty string")),
        Value::String(s) => Ok(vec![Input::Text(s.clone())]),
        Value::Array(items) if items.is_empty() => Err(bad("is an empty list")),
        Value::Array(items) if items.iter().all(Value::is_number) => tokens(items)
            .map(|ids| vec![Input::Tokens(ids)])
            .ok_or_else(|| bad("holds numbers that are not token ids")),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if !s.is_empty() => Ok(Input::Text(s.clone())),
                Value::Array(ids) => tokens(ids)
                    .map(Input::Tokens)
                    .ok_or_else(|| bad(&format!("item {i} is not a non-empty list of token ids"))),
                _ => Err(bad(&format!(
                    "item {i} is neither a non-empty string nor a token array"
                ))),
            })
            .collect(),
        _ => Err(bad("has the wrong type")),
    }
}

async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    http: web::Data<Client>,
) -> HttpResponse {
    let mut opened = json_door::open(&req, payload, &state, "aembedding").await;
    let result = match opened.admitted {
        Ok((caller, raw)) => proceed(&raw, &state, &http, &caller, &mut opened.ticket).await,
        Err(e) => Err(e),
    };
    json_door::close(opened.ticket, &opened.request_id, result).await
}

async fn proceed(
    raw: &[u8],
    state: &AppState,
    http: &Client,
    caller: &Caller,
    ticket: &mut Ticket,
) -> Result<(Value, Usage), AppError> {
    let r = parse(raw)?;
    let estimate = r.input.iter().map(Input::estimate).sum::<u64>().max(1);
    let ask = Ask {
        model: &r.model,
        prompt_estimate: estimate,
        max_tokens: Some(0),
        choices: 1,
        kind: ModelKind::Embedding,
    };
    let group = admission::admit(state, caller, &ask, ticket)?;
    let order = group.order(Utc::now().timestamp());
    let (vectors, reported) =
        upstream::first_answer(&order, ticket, |d| embed(http, d, &r)).await?;
    let prompt = reported.unwrap_or(estimate);
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if r.base64 { encode(v) } else { json!(v) };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let body = json!({
        "object": "list",
        "data": data,
        "model": r.model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    });
    let usage = Usage {
        prompt_tokens: prompt,
        ..Usage::default()
    };
    Ok((body, usage))
}

/// Floats as base64 of their little-endian `f32` bytes, as OpenAI encodes them.
fn encode(v: &[f32]) -> Value {
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn floats(v: &Value) -> Option<Vec<f32>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect()
}

fn invalid_answer(why: &str) -> Failure {
    (
        AppError::BadGateway(format!("the provider's embeddings answer {why}")),
        false,
    )
}

/// One deployment's vectors, in input order, and the prompt tokens it reported.
async fn embed(
    http: &Client,
    d: &Deployment,
    r: &Request,
) -> Result<(Vec<Vec<f32>>, Option<u64>), Failure> {
    let up = &d.upstream;
    let key = up.api_key.as_deref().filter(|k| !k.is_empty());
    let missing = || {
        (
            AppError::BadGateway(format!(
                "{}: no provider API key is configured for this model; ask the administrator to set it in config.toml",
                r.model
            )),
            false,
        )
    };
    let text_only = |provider: &str| {
        (
            AppError::invalid(
                format!(
                    "The model `{}` ({provider}) takes text input only, not token arrays",
                    r.model
                ),
                Some("input"),
            ),
            false,
        )
    };
    match up.provider {
        ProviderKind::Gemini if r.has_tokens() => Err(text_only("Gemini")),
        ProviderKind::Mistral if r.has_tokens() => Err(text_only("Mistral")),
        ProviderKind::Gemini => gemini(http, d, r, key.ok_or_else(missing)?).await,
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Mistral => {
            let auth = match key {
                Some(k) => Some(format!("Bearer {k}")),
                None if up.provider == ProviderKind::OpenAiCompatible => None,
                None => return Err(missing()),
            };
            openai_style(http, d, r, auth.as_deref()).await
        }
        // The config refuses these as embedding models; a guard, not a path.
        ProviderKind::Anthropic | ProviderKind::Cohere => Err((
            AppError::invalid(
                format!(
                    "The model `{}` is served by {}, which has no embeddings here",
                    r.model,
                    up.provider.as_str()
                ),
                Some("model"),
            ),
            false,
        )),
    }
}

/// OpenAI, Mistral and OpenAI-compatible servers: `POST {api_base}/embeddings`.
async fn openai_style(
    http: &Client,
    d: &Deployment,
    r: &Request,
    auth: Option<&str>,
) -> Result<(Vec<Vec<f32>>, Option<u64>), Failure> {
    let up = &d.upstream;
    let url = format!("{}/embeddings", up.api_base.trim_end_matches('/'));
    let batch = if up.api_base.contains("dashscope") {
        DASHSCOPE_BATCH
    } else {
        MAX_INPUTS
    };
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
    let mistral = up.provider == ProviderKind::Mistral;
    let mut vectors = Vec::with_capacity(r.input.len());
    let mut reported = Some(0u64);
    for part in r.input.chunks(batch) {
        let input = match part {
            [one] => one.json(),
            many => Value::Array(many.iter().map(Input::json).collect()),
        };
        let mut body = json!({"model": up.model_id, "input": input});
        if mistral {
            // Mistral answers 422 to fields it does not know (`user`, `dimensions`).
            if let Some(dims) = r.dimensions {
                body["output_dimension"] = dims.into();
            }
        } else {
            body["encoding_format"] = "float".into();
            if let Some(dims) = r.dimensions {
                body["dimensions"] = dims.into();
            }
            if let Some(user) = &r.user {
                body["user"] = user.as_str().into();
            }
        }
        let v = upstream::post_json(http, d, &url, &headers, &body).await?;
        let mut data: Vec<(u64, Vec<f32>)> = v["data"]
            .as_array()
            .ok_or_else(|| invalid_answer("has no data"))?
            .iter()
            .map(|e| {
                floats(&e["embedding"])
                    .map(|f| (e["index"].as_u64().unwrap_or(0), f))
                    .ok_or_else(|| invalid_answer("holds a vector that is not floats"))
            })
            .collect::<Result<_, _>>()?;
        if data.len() != part.len() {
            return Err(invalid_answer(
                "holds a different number of vectors than inputs",
            ));
        }
        data.sort_by_key(|(i, _)| *i);
        vectors.extend(data.into_iter().map(|(_, f)| f));
        reported = reported
            .zip(v["usage"]["prompt_tokens"].as_u64())
            .map(|(a, b)| a + b);
    }
    Ok((vectors, reported))
}

/// Gemini: `POST …/models/{id}:batchEmbedContents`, at most 100 requests a call, each
/// naming the same model as the URL.
async fn gemini(
    http: &Client,
    d: &Deployment,
    r: &Request,
    key: &str,
) -> Result<(Vec<Vec<f32>>, Option<u64>), Failure> {
    let up = &d.upstream;
    let base = up.api_base.trim_end_matches('/');
    let base = if base.ends_with("/v1beta") || base.ends_with("/v1") {
        base.to_string()
    } else {
        format!("{base}/v1beta")
    };
    let id = up.model_id.strip_prefix("models/").unwrap_or(&up.model_id);
    let url = format!("{base}/models/{id}:batchEmbedContents");
    let mut vectors = Vec::with_capacity(r.input.len());
    let mut reported = Some(0u64);
    for part in r.input.chunks(GEMINI_BATCH) {
        let requests: Vec<Value> = part
            .iter()
            .map(|input| {
                let mut one = json!({
                    "model": format!("models/{id}"),
                    "content": {"parts": [{"text": input.json()}]},
                });
                if let Some(dims) = r.dimensions {
                    one["outputDimensionality"] = dims.into();
                }
                one
            })
            .collect();
        let body = json!({ "requests": requests });
        let v = upstream::post_json(http, d, &url, &[("x-goog-api-key", key)], &body).await?;
        let got = v["embeddings"]
            .as_array()
            .ok_or_else(|| invalid_answer("has no embeddings"))?;
        if got.len() != part.len() {
            return Err(invalid_answer(
                "holds a different number of vectors than inputs",
            ));
        }
        for e in got {
            vectors.push(
                floats(&e["values"])
                    .ok_or_else(|| invalid_answer("holds a vector that is not floats"))?,
            );
        }
        // Only newer models report usage; without it the door estimates.
        reported = reported
            .zip(v["usageMetadata"]["promptTokenCount"].as_u64())
            .map(|(a, b)| a + b);
    }
    Ok((vectors, reported))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes() {
        let one = |v: Value| parse_input(&v);
        assert_eq!(one(json!("hi")).unwrap(), vec![Input::Text("hi".into())]);
        assert_eq!(one(json!([1, 2])).unwrap(), vec![Input::Tokens(vec![1, 2])]);
        assert_eq!(
            one(json!([[1], [2, 3]])).unwrap(),
            vec![Input::Tokens(vec![1]), Input::Tokens(vec![2, 3])]
        );
        for bad in [
            json!(""),
            json!([]),
            json!([""]),
            json!([1.5]),
            json!([[]]),
            json!([-1]),
            json!({}),
            json!(["a", 1]),
            json!(null),
        ] {
            assert!(one(bad.clone()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn base64_is_little_endian_f32() {
        // 0.5 = 0x3f000000, -1.0 = 0xbf800000 (PROVIDERS.md §11's example).
        assert_eq!(encode(&[0.5, -1.0]), json!("AAAAPwAAgL8="));
    }
}
