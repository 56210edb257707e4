//! Fake rerank endpoints (PROVIDERS.md §12), each strict about its own shape: Cohere's
//! `POST /cohere/v2/rerank` (string documents only, no `return_documents`, never echoes
//! documents, bills search units), the Jina-style `POST /openai/v1/rerank` (strings or
//! `{text}`, `usage.total_tokens`) and TEI's `POST /tei/rerank` (`texts`, a bare
//! `[{index, score}]`, no usage). Scores are the share of query words a document holds,
//! so a test knows the order to expect.

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::{json, Value};

use super::dispatch::Incoming;
use super::errors::Rejection;
use super::{openai, tokens, ReceivedRequest, SimProvider, Simulator};

/// Rerank models the fakes know.
const MODELS: &[&str] = &[
    "rerank-v3.5",
    "jina-reranker-v2-base-multilingual",
    "BAAI/bge-reranker-v2-m3",
];

/// How well `doc` answers `query`: the share of the query's words found in it, with a
/// small length tiebreak so scores differ.
pub fn score(query: &str, doc: &str) -> f64 {
    let doc_lower = doc.to_lowercase();
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let hits = words
        .iter()
        .filter(|w| doc_lower.contains(w.as_str()))
        .count();
    let share = hits as f64 / words.len().max(1) as f64;
    (share * 0.9 + 0.1 / (1.0 + doc.len() as f64)).min(1.0)
}

fn record(sim: &Simulator, req: &HttpRequest, body: &Option<Value>) {
    sim.record(ReceivedRequest {
        provider: SimProvider::OpenAi,
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers: super::dispatch::header_list(req),
        body: body.clone().unwrap_or(Value::Null),
        stream: false,
    });
}

/// Indexes by falling score, at most `top_n`.
fn ranked(query: &str, docs: &[String], top_n: Option<u64>) -> Vec<(usize, f64)> {
    let mut out: Vec<(usize, f64)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (i, score(query, d)))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out.truncate(top_n.map_or(docs.len(), |n| n as usize));
    out
}

/// `POST /cohere/v2/rerank`.
pub(super) async fn cohere(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    raw: Bytes,
) -> HttpResponse {
    let body: Option<Value> = serde_json::from_slice(&raw).ok();
    record(&sim, &req, &body);
    let inc = Incoming {
        req: &req,
        body: body.as_ref(),
        api_key: &sim.0.config.api_key,
    };
    let checked = (|| {
        if inc.bearer() != Some(inc.api_key) {
            return Err(Rejection::cohere(401, "invalid api token"));
        }
        let body = body
            .as_ref()
            .ok_or_else(|| Rejection::cohere(400, "invalid request: body is not JSON"))?;
        const KNOWN: &[&str] = &["model", "query", "documents", "top_n", "max_tokens_per_doc"];
        if let Some(extra) = body
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .find(|k| !KNOWN.contains(&k.as_str()))
        {
            return Err(Rejection::cohere(
                400,
                &format!("invalid request: unknown field: parameter {extra} is not a valid field"),
            ));
        }
        let model = body["model"]
            .as_str()
            .ok_or_else(|| Rejection::cohere(400, "invalid request: model is required"))?;
        if !MODELS.contains(&model) {
            return Err(Rejection::cohere(
                404,
                &format!("model '{model}' not found, make sure the correct model ID was used"),
            ));
        }
        let query = body["query"]
            .as_str()
            .filter(|q| !q.is_empty())
            .ok_or_else(|| Rejection::cohere(400, "invalid request: query must not be empty"))?;
        let docs: Vec<String> = body["documents"]
            .as_array()
            .filter(|d| !d.is_empty() && d.len() <= 1000)
            .and_then(|d| {
                d.iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                Rejection::cohere(
                    400,
                    "invalid request: documents must be a list of 1 to 1000 strings",
                )
            })?;
        let top_n = body["top_n"].as_u64();
        Ok((query.to_string(), docs, top_n))
    })();
    let (query, docs, top_n) = match checked {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let results: Vec<Value> = ranked(&query, &docs, top_n)
        .into_iter()
        .map(|(i, s)| json!({"index": i, "relevance_score": s}))
        .collect();
    let units = docs.len().div_ceil(100);
    HttpResponse::Ok().json(json!({
        "id": "sim-rerank",
        "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": units}},
    }))
}

/// `POST /openai/v1/rerank` (Jina, SiliconFlow, vLLM style).
pub(super) async fn jina(sim: web::Data<Simulator>, req: HttpRequest, raw: Bytes) -> HttpResponse {
    let body: Option<Value> = serde_json::from_slice(&raw).ok();
    record(&sim, &req, &body);
    let inc = Incoming {
        req: &req,
        body: body.as_ref(),
        api_key: &sim.0.config.api_key,
    };
    let checked = (|| {
        openai::check_auth(&inc)?;
        let body = body
            .as_ref()
            .ok_or_else(|| Rejection::openai_invalid("body is not JSON", None, None))?;
        let model = body["model"].as_str().unwrap_or_default();
        if !MODELS.contains(&model) {
            return Err(Rejection::openai(
                404,
                &format!("The model `{model}` does not exist."),
                "invalid_request_error",
                None,
                Some("model_not_found"),
            ));
        }
        let query = body["query"]
            .as_str()
            .filter(|q| !q.is_empty())
            .ok_or_else(|| Rejection::openai_invalid("query is required", Some("query"), None))?;
        let docs: Vec<String> = body["documents"]
            .as_array()
            .filter(|d| !d.is_empty())
            .and_then(|d| {
                d.iter()
                    .map(|x| x.as_str().or(x["text"].as_str()).map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                Rejection::openai_invalid(
                    "documents must be a non-empty list",
                    Some("documents"),
                    None,
                )
            })?;
        Ok((
            query.to_string(),
            docs,
            body["top_n"].as_u64(),
            body["return_documents"].as_bool().unwrap_or(true),
        ))
    })();
    let (query, docs, top_n, echo) = match checked {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let total: u32 = docs
        .iter()
        .map(|d| tokens::text_tokens(&query) + tokens::text_tokens(d))
        .sum();
    let results: Vec<Value> = ranked(&query, &docs, top_n)
        .into_iter()
        .map(|(i, s)| {
            let mut one = json!({"index": i, "relevance_score": s});
            if echo {
                one["document"] = json!({"text": docs[i]});
            }
            one
        })
        .collect();
    HttpResponse::Ok()
        .json(json!({"model": "sim", "usage": {"total_tokens": total}, "results": results}))
}

/// `POST /tei/rerank` (Hugging Face text-embeddings-inference).
pub(super) async fn tei(sim: web::Data<Simulator>, req: HttpRequest, raw: Bytes) -> HttpResponse {
    let body: Option<Value> = serde_json::from_slice(&raw).ok();
    record(&sim, &req, &body);
    let reject = |message: &str| {
        HttpResponse::UnprocessableEntity()
            .json(json!({"error": message, "error_type": "Validation"}))
    };
    let Some(body) = body else {
        return reject("Failed to deserialize the JSON body");
    };
    if body.get("documents").is_some() {
        return reject("unknown field `documents`, expected one of `query`, `texts`, `truncate`, `raw_scores`, `return_text`");
    }
    let (Some(query), Some(texts)) = (body["query"].as_str(), body["texts"].as_array()) else {
        return reject("missing field `query` or `texts`");
    };
    let Some(texts) = texts
        .iter()
        .map(|t| t.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
    else {
        return reject("`texts` must be strings");
    };
    if texts.is_empty() {
        return reject("`texts` cannot be empty");
    }
    let out: Vec<Value> = ranked(query, &texts, None)
        .into_iter()
        .map(|(i, s)| json!({"index": i, "score": s}))
        .collect();
    HttpResponse::Ok().json(out)
}
