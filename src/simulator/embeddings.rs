//! Fake embedding endpoints (PROVIDERS §11): OpenAI's and Mistral's
//! `POST …/embeddings` and Gemini's `:batchEmbedContents` (at most 100 requests, each
//! naming the same model as the URL). Vectors are deterministic functions of the text,
//! so a test can tell inputs apart and check their order.

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::{json, Value};

use super::dispatch::Incoming;
use super::errors::Rejection;
use super::{gemini, openai, tokens, ReceivedRequest, SimProvider, Simulator};

/// Embedding models per provider: (id, dimensions).
const OPENAI: &[(&str, usize)] = &[
    ("text-embedding-3-small", 1536),
    ("text-embedding-3-large", 3072),
    ("text-embedding-ada-002", 1536),
];
const MISTRAL: &[(&str, usize)] = &[("mistral-embed", 1024), ("codestral-embed", 3072)];
const GEMINI: &[(&str, usize)] = &[("text-embedding-004", 768), ("gemini-embedding-001", 3072)];
/// Dimensions actually returned unless asked otherwise (kept small for tests).
const RETURNED: usize = 8;

/// A unit-length vector derived from `text`.
fn vector(text: &str, dims: usize) -> Vec<f32> {
    let mut seed: u64 = 1469598103934665603;
    for b in text.bytes() {
        seed = (seed ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    let raw: Vec<f32> = (0..dims)
        .map(|i| {
            let x = seed
                .wrapping_add(i as u64)
                .wrapping_mul(6364136223846793005)
                >> 40;
            (x as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
    raw.into_iter().map(|v| v / norm).collect()
}

fn record(sim: &Simulator, provider: SimProvider, req: &HttpRequest, body: &Option<Value>) {
    sim.record(ReceivedRequest {
        provider,
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers: super::dispatch::header_list(req),
        body: body.clone().unwrap_or(Value::Null),
        stream: false,
    });
}

/// The inputs as texts (token arrays rendered as their numbers).
fn inputs(input: &Value) -> Option<Vec<String>> {
    match input {
        Value::String(s) if !s.is_empty() => Some(vec![s.clone()]),
        Value::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|v| v.as_str().is_some_and(|s| !s.is_empty())) =>
        {
            Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            )
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_u64) => {
            Some(vec![input.to_string()])
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_array) => {
            Some(items.iter().map(Value::to_string).collect())
        }
        _ => None,
    }
}

/// `POST /openai/v1/embeddings` and `/mistral/v1/embeddings`.
pub(super) async fn openai_style(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    raw: Bytes,
) -> HttpResponse {
    let mistral = req.path().starts_with("/mistral");
    let provider = if mistral {
        SimProvider::Mistral
    } else {
        SimProvider::OpenAi
    };
    let body: Option<Value> = serde_json::from_slice(&raw).ok();
    record(&sim, provider, &req, &body);
    let inc = Incoming {
        req: &req,
        body: body.as_ref(),
        api_key: &sim.0.config.api_key,
    };
    let checked = (|| {
        if mistral {
            if inc.bearer() != Some(inc.api_key) {
                return Err(Rejection::mistral_unauthorized());
            }
        } else {
            openai::check_auth(&inc)?;
        }
        let body = body.as_ref().ok_or_else(|| {
            Rejection::openai_invalid(
                "We could not parse the JSON body of your request.",
                None,
                None,
            )
        })?;
        let model = body["model"].as_str().unwrap_or_default();
        let models = if mistral { MISTRAL } else { OPENAI };
        let (_, max_dims) = models.iter().find(|(id, _)| *id == model).ok_or_else(|| {
            Rejection::openai(
                404,
                &format!("The model `{model}` does not exist or you do not have access to it."),
                "invalid_request_error",
                None,
                Some("model_not_found"),
            )
        })?;
        if mistral {
            const KNOWN: &[&str] = &[
                "model",
                "input",
                "output_dimension",
                "output_dtype",
                "encoding_format",
                "metadata",
            ];
            let extra: Vec<Value> = body
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
                .map(|(k, _)| json!({"type": "extra_forbidden", "loc": ["body", k], "msg": "Extra inputs are not permitted"}))
                .collect();
            if !extra.is_empty() {
                return Err(Rejection::mistral_unprocessable(extra));
            }
        }
        let texts = inputs(&body["input"]).ok_or_else(|| {
            Rejection::openai_invalid(
                "'input' must be a non-empty string, array of strings or array of tokens",
                Some("input"),
                None,
            )
        })?;
        if mistral
            && !body["input"]
                .as_array()
                .is_none_or(|a| a.iter().all(Value::is_string))
        {
            return Err(Rejection::mistral_unprocessable(vec![
                json!({"type": "string_type", "loc": ["body", "input"], "msg": "Input should be a valid string"}),
            ]));
        }
        let asked = if mistral {
            "output_dimension"
        } else {
            "dimensions"
        };
        let dims = match body.get(asked).and_then(Value::as_u64) {
            Some(d)
                if d as usize > *max_dims || d == 0 || (mistral && model == "mistral-embed") =>
            {
                return Err(Rejection::openai_invalid(
                    "This model does not support the requested dimensions",
                    Some("dimensions"),
                    None,
                ))
            }
            Some(d) => d as usize,
            None => RETURNED,
        };
        Ok((model.to_string(), texts, dims))
    })();
    let (model, texts, dims) = match checked {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let prompt: u32 = texts.iter().map(|t| tokens::text_tokens(t)).sum();
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t, dims)}))
        .collect();
    HttpResponse::Ok().json(json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": prompt, "total_tokens": prompt}}))
}

/// `POST /gemini/v1beta/models/{model}:batchEmbedContents`.
pub(super) fn gemini_batch(
    sim: &Simulator,
    req: &HttpRequest,
    raw: &Bytes,
    model: &str,
) -> HttpResponse {
    let body: Option<Value> = serde_json::from_slice(raw).ok();
    record(sim, SimProvider::Gemini, req, &body);
    let inc = Incoming {
        req,
        body: body.as_ref(),
        api_key: &sim.0.config.api_key,
    };
    if let Err(r) = gemini::check_auth(&inc) {
        return r.into_response();
    }
    let Some((_, max_dims)) = GEMINI.iter().find(|(id, _)| *id == model) else {
        return Rejection::gemini(404, "NOT_FOUND", &format!("models/{model} is not found for API version v1beta, or is not supported for embedContent."), None).into_response();
    };
    let requests = body
        .as_ref()
        .and_then(|b| b["requests"].as_array())
        .cloned()
        .unwrap_or_default();
    if requests.is_empty() || requests.len() > 100 {
        return Rejection::gemini_invalid(
            "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch",
        )
        .into_response();
    }
    let mut out = Vec::new();
    for r in &requests {
        if r["model"].as_str() != Some(&format!("models/{model}")) {
            return Rejection::gemini_invalid(
                "Model in request does not match the model of the batch",
            )
            .into_response();
        }
        let text = r["content"]["parts"][0]["text"]
            .as_str()
            .unwrap_or_default();
        let dims = r["outputDimensionality"]
            .as_u64()
            .map_or(RETURNED, |d| (d as usize).min(*max_dims));
        out.push(json!({"values": vector(text, dims)}));
    }
    HttpResponse::Ok().json(json!({"embeddings": out}))
}
