//! The rerank door (SPEC §12): `POST /v1/rerank` (also `/rerank`, `/v2/rerank`) in the
//! Cohere / Jina format to `cohere` (`/v2/rerank`, string documents only) and
//! `openai_compatible` models of kind `rerank`, in the model's `rerank_format`: `jina`
//! (Jina, SiliconFlow, vLLM, Xinference) or `tei` (Hugging Face TEI's `texts` and bare
//! `[{index, score}]`). One answer shape whatever the provider: results by falling
//! score, `top_n` applied, documents echoed only when asked, usage read wherever the
//! format reports it and estimated where it reports none (`call_type = arerank`).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{json, Value};

use super::json_door;
use super::upstream::{self, Failure};
use crate::app::AppState;
use crate::config::{ModelKind, RerankFormat};
use crate::domain::directory::Caller;
use crate::domain::tokens;
use crate::error::AppError;
use crate::proxy::admission::{self, Ask};
use crate::proxy::client::Client;
use crate::proxy::router::Deployment;
use crate::proxy::ticket::Ticket;
use crate::proxy::{ProviderKind, Usage};

/// Documents accepted in one request (Cohere's limit).
pub const MAX_DOCUMENTS: usize = 1000;

/// Routes of the door.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/rerank", web::post().to(create))
        .route("/v2/rerank", web::post().to(create))
        .route("/rerank", web::post().to(create));
}

/// What the client asked for.
#[derive(Debug)]
struct Request {
    model: String,
    query: String,
    documents: Vec<String>,
    top_n: Option<usize>,
    return_documents: bool,
}

fn parse(raw: &[u8]) -> Result<Request, AppError> {
    let body: Value = serde_json::from_slice(raw).map_err(|e| {
        AppError::invalid(
            format!("We could not parse the JSON body of your request: {e}"),
            None,
        )
    })?;
    let model = body["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| AppError::invalid("you must provide a model parameter", Some("model")))?
        .to_string();
    let query = body["query"]
        .as_str()
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| AppError::invalid("'query' must be a non-empty string", Some("query")))?
        .to_string();
    let items = body["documents"]
        .as_array()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            AppError::invalid(
                "'documents' must be a non-empty list of strings or {\"text\": ...} objects",
                Some("documents"),
            )
        })?;
    if items.len() > MAX_DOCUMENTS {
        return Err(AppError::invalid(
            format!(
                "'documents' holds {} items; at most {MAX_DOCUMENTS} are allowed",
                items.len()
            ),
            Some("documents"),
        ));
    }
    let documents = items
        .iter()
        .enumerate()
        .map(|(i, d)| {
            d.as_str()
                .or_else(|| d["text"].as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    AppError::invalid(
                        format!(
                            "documents[{i}] is neither a string nor a {{\"text\": ...}} object"
                        ),
                        Some("documents"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let top_n = match &body["top_n"] {
        Value::Null => None,
        v => Some(
            v.as_u64()
                .filter(|n| *n >= 1)
                .map(|n| (n as usize).min(documents.len()))
                .ok_or_else(|| {
                    AppError::invalid("'top_n' must be a positive integer", Some("top_n"))
                })?,
        ),
    };
    let return_documents = match &body["return_documents"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => {
            return Err(AppError::invalid(
                "'return_documents' must be true or false",
                Some("return_documents"),
            ))
        }
    };
    Ok(Request {
        model,
        query,
        documents,
        top_n,
        return_documents,
    })
}

async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    http: web::Data<Client>,
) -> HttpResponse {
    let mut opened = json_door::open(&req, payload, &state, "arerank").await;
    let result = match opened.admitted {
        Ok((caller, raw)) => proceed(&raw, &state, &http, &caller, &mut opened.ticket).await,
        Err(e) => Err(e),
    };
    json_door::close(opened.ticket, &opened.request_id, result).await
}

/// A provider's ranking: `(index, score)` pairs and the tokens it reported.
struct Ranking {
    scores: Vec<(usize, f64)>,
    tokens: Option<u64>,
    search_units: Option<u64>,
}

async fn proceed(
    raw: &[u8],
    state: &AppState,
    http: &Client,
    caller: &Caller,
    ticket: &mut Ticket,
) -> Result<(Value, Usage), AppError> {
    let r = parse(raw)?;
    // Every document is read with the query.
    let query_tokens = admission::estimate_tokens(&Value::String(r.query.clone()));
    let estimate = r
        .documents
        .iter()
        .map(|d| query_tokens + admission::estimate_tokens(&Value::String(d.clone())))
        .sum::<u64>()
        .max(1);
    let ask = Ask {
        model: &r.model,
        prompt_estimate: estimate,
        max_tokens: Some(0),
        choices: 1,
        kind: ModelKind::Rerank,
    };
    let group = admission::admit(state, caller, &ask, ticket)?;
    let order = group.order(Utc::now().timestamp());
    let mut ranking = upstream::first_answer(&order, ticket, |d| rank(http, d, &r)).await?;
    ranking
        .scores
        .sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    ranking
        .scores
        .truncate(r.top_n.unwrap_or(r.documents.len()));
    let prompt = ranking.tokens.unwrap_or(estimate);
    let results: Vec<Value> = ranking
        .scores
        .iter()
        .map(|(index, score)| {
            let mut one = json!({"index": index, "relevance_score": score});
            if r.return_documents {
                one["document"] = json!({"text": r.documents[*index]});
            }
            one
        })
        .collect();
    let id = tokens::request_id(Utc::now().timestamp_millis());
    let body = json!({
        "id": id,
        "model": r.model,
        "results": results,
        "meta": {
            "api_version": {"version": "2"},
            "billed_units": {"search_units": ranking.search_units.unwrap_or(1), "input_tokens": prompt},
        },
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    });
    let usage = Usage {
        prompt_tokens: prompt,
        billed_requests: 1,
        ..Usage::default()
    };
    Ok((body, usage))
}

fn invalid_answer(why: &str) -> Failure {
    (
        AppError::BadGateway(format!("the provider's rerank answer {why}")),
        false,
    )
}

/// `(index, score)` pairs from `items`, every index within the request's documents.
fn scores(items: &[Value], score: &str, documents: usize) -> Result<Vec<(usize, f64)>, Failure> {
    items
        .iter()
        .map(|item| {
            let index = item["index"]
                .as_u64()
                .map(|i| i as usize)
                .filter(|i| *i < documents);
            match (index, item[score].as_f64()) {
                (Some(i), Some(s)) => Ok((i, s)),
                _ => Err(invalid_answer(
                    "holds a result without a valid index and score",
                )),
            }
        })
        .collect()
}

/// Tokens wherever the provider's format reports them (PROVIDERS.md §12).
fn reported_tokens(v: &Value) -> Option<u64> {
    [
        &v["usage"]["prompt_tokens"],
        &v["usage"]["total_tokens"],
        &v["tokens"]["input_tokens"],
        &v["meta"]["tokens"]["input_tokens"],
        &v["meta"]["billed_units"]["input_tokens"],
    ]
    .into_iter()
    .find_map(Value::as_u64)
    .filter(|t| *t > 0)
}

/// One deployment's ranking.
async fn rank(http: &Client, d: &Deployment, r: &Request) -> Result<Ranking, Failure> {
    let up = &d.upstream;
    let key = up.api_key.as_deref().filter(|k| !k.is_empty());
    let auth = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let base = up.api_base.trim_end_matches('/');
    match (up.provider, d.rerank_format) {
        (ProviderKind::Cohere, _) => {
            if key.is_none() {
                return Err((
                    AppError::BadGateway(format!(
                        "{}: no provider API key is configured for this model; ask the administrator to set it in config.toml",
                        r.model
                    )),
                    false,
                ));
            }
            let mut body =
                json!({"model": up.model_id, "query": r.query, "documents": r.documents});
            if let Some(n) = r.top_n {
                body["top_n"] = n.into();
            }
            let v =
                upstream::post_json(http, d, &format!("{base}/v2/rerank"), &headers, &body).await?;
            let items = v["results"]
                .as_array()
                .ok_or_else(|| invalid_answer("has no results"))?;
            Ok(Ranking {
                scores: scores(items, "relevance_score", r.documents.len())?,
                tokens: reported_tokens(&v),
                search_units: v["meta"]["billed_units"]["search_units"].as_u64(),
            })
        }
        (ProviderKind::OpenAiCompatible, RerankFormat::Jina) => {
            let mut body = json!({
                "model": up.model_id,
                "query": r.query,
                "documents": r.documents,
                "return_documents": false,
            });
            if let Some(n) = r.top_n {
                body["top_n"] = n.into();
            }
            let v =
                upstream::post_json(http, d, &format!("{base}/rerank"), &headers, &body).await?;
            let items = v["results"]
                .as_array()
                .ok_or_else(|| invalid_answer("has no results"))?;
            Ok(Ranking {
                scores: scores(items, "relevance_score", r.documents.len())?,
                tokens: reported_tokens(&v),
                search_units: None,
            })
        }
        (ProviderKind::OpenAiCompatible, RerankFormat::Tei) => {
            let body = json!({"query": r.query, "texts": r.documents, "truncate": true, "return_text": false});
            let v =
                upstream::post_json(http, d, &format!("{base}/rerank"), &headers, &body).await?;
            let items = v
                .as_array()
                .ok_or_else(|| invalid_answer("is not a list of scores"))?;
            Ok(Ranking {
                scores: scores(items, "score", r.documents.len())?,
                tokens: None,
                search_units: None,
            })
        }
        // The config refuses these as rerank models; a guard, not a path.
        (provider, _) => Err((
            AppError::invalid(
                format!(
                    "The model `{}` is served by {}, which has no rerank here",
                    r.model,
                    provider.as_str()
                ),
                Some("model"),
            ),
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_as_strings_or_text_objects() {
        let r = parse(br#"{"model":"m","query":"q","documents":["a",{"text":"b"}],"top_n":5}"#)
            .unwrap();
        assert_eq!(r.documents, ["a", "b"]);
        assert_eq!(r.top_n, Some(2), "top_n beyond the documents means all");
        for bad in [
            r#"{"model":"m","query":"q","documents":[]}"#,
            r#"{"model":"m","query":"","documents":["a"]}"#,
            r#"{"model":"m","query":"q","documents":[1]}"#,
            r#"{"model":"m","query":"q","documents":["a"],"top_n":0}"#,
            r#"{"model":"m","query":"q","documents":["a"],"return_documents":"yes"}"#,
            r#"{"query":"q","documents":["a"]}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn usage_found_in_each_format() {
        for (v, t) in [
            (json!({"usage": {"total_tokens": 7}}), Some(7)),
            (
                json!({"tokens": {"input_tokens": 8, "output_tokens": 0}}),
                Some(8),
            ),
            (json!({"meta": {"tokens": {"input_tokens": 9}}}), Some(9)),
            (json!({"meta": {"billed_units": {"search_units": 1}}}), None),
        ] {
            assert_eq!(reported_tokens(&v), t, "{v}");
        }
    }
}
