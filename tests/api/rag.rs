//! Embeddings and rerank (SPEC §12) through the strict fakes: each provider gets the
//! body its real API takes (floats asked for, base64 encoded by the gateway, batches
//! split to the provider's limit and joined in order, Cohere's string documents, TEI's
//! `texts`), answers come back in one shape, every call is charged and logged as
//! `aembedding` / `arerank`, and bad input is a clear OpenAI-format error that costs
//! nothing and reaches no provider.

use base64::Engine;
use serde_json::{json, Value};
use tollgate::config::{ModelConfig, ModelKind, RerankFormat, Secret};
use tollgate::proxy::ProviderKind;
use tollgate::simulator::DEFAULT_API_KEY;

use crate::helpers::*;

impl TestApp {
    async fn embed(&self, key: &str, body: &Value) -> Resp {
        self.post_json("/v1/embeddings", body, Some(key)).await
    }

    async fn rerank(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.post_json(path, body, Some(key)).await
    }
}

/// A deployment on the simulator at `prefix` (`gemini`, `mistral/v1`, `tei`, …).
fn on_sim(
    c: &tollgate::config::Config,
    name: &str,
    provider: ProviderKind,
    model: &str,
    prefix: &str,
    kind: ModelKind,
) -> ModelConfig {
    let gpt = c
        .models
        .iter()
        .find(|m| m.name == "gpt-4o")
        .expect("demo model");
    let base = gpt
        .api_base
        .as_deref()
        .unwrap()
        .trim_end_matches("/openai/v1");
    ModelConfig {
        kind,
        api_base: Some(format!("{base}/{prefix}")),
        api_key: Some(Secret::literal(DEFAULT_API_KEY)),
        input_cost_per_mtok: Some(0.1),
        timeout_s: 10,
        max_retries: 0,
        ..ModelConfig::new(name, provider, model)
    }
}

/// The demo models plus an embedding model of each other provider kind and the
/// Jina- and TEI-style rerankers, all on the simulator.
pub(crate) async fn rag_app() -> TestApp {
    spawn_app_with(|c| {
        let more = [
            on_sim(
                c,
                "gemini-embed",
                ProviderKind::Gemini,
                "gemini-embedding-001",
                "gemini",
                ModelKind::Embedding,
            ),
            on_sim(
                c,
                "mistral-embed",
                ProviderKind::Mistral,
                "mistral-embed",
                "mistral/v1",
                ModelKind::Embedding,
            ),
            on_sim(
                c,
                "codestral-embed",
                ProviderKind::Mistral,
                "codestral-embed",
                "mistral/v1",
                ModelKind::Embedding,
            ),
            on_sim(
                c,
                "local-embed",
                ProviderKind::OpenAiCompatible,
                "text-embedding-3-large",
                "openai/v1",
                ModelKind::Embedding,
            ),
            on_sim(
                c,
                "bge-rerank",
                ProviderKind::OpenAiCompatible,
                "BAAI/bge-reranker-v2-m3",
                "openai/v1",
                ModelKind::Rerank,
            ),
            ModelConfig {
                rerank_format: RerankFormat::Tei,
                ..on_sim(
                    c,
                    "tei-rerank",
                    ProviderKind::OpenAiCompatible,
                    "BAAI/bge-reranker-v2-m3",
                    "tei",
                    ModelKind::Rerank,
                )
            },
        ];
        c.models.extend(more);
    })
    .await
}

fn decode(b64: &str) -> Vec<f32> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn vectors(resp: &Resp) -> Vec<Vec<f32>> {
    let body = resp.json();
    let data = body["data"].as_array().expect("data");
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["index"], i, "indexes in input order");
        assert_eq!(item["object"], "embedding");
    }
    data.iter()
        .map(|item| match &item["embedding"] {
            Value::String(b64) => decode(b64),
            v => v
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

fn charged(app: &TestApp, call_type: &str) -> (i64, i64) {
    (
        app.query_i64(&format!(
            "SELECT COUNT(*) FROM request_logs WHERE call_type = '{call_type}' AND success = 1"
        )),
        app.query_i64(&format!(
            "SELECT COALESCE(SUM(cost), 0) FROM request_logs WHERE call_type = '{call_type}'"
        )),
    )
}

#[actix_web::test]
async fn openai_embeddings_float_base64_and_dimensions_are_charged() {
    let app = rag_app().await;
    let key = app.key("rag").await;
    let float = app
        .embed(
            &key,
            &json!({"model": "text-embedding-3-small", "input": ["hello world", "你好，世界"]}),
        )
        .await;
    assert_eq!(float.status, 200, "{}", float.body);
    let body = float.json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "text-embedding-3-small");
    let prompt = body["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(prompt > 0 && body["usage"]["total_tokens"] == prompt);
    let floats = vectors(&float);
    assert_eq!(floats.len(), 2);
    assert_ne!(floats[0], floats[1]);
    let seen = app.sim.received().pop().unwrap();
    assert_eq!(seen.path, "/openai/v1/embeddings");
    assert_eq!(seen.body["encoding_format"], "float");
    assert_eq!(seen.body["model"], "text-embedding-3-small");

    // base64 is the same floats, encoded by the gateway; the provider is still asked for floats.
    let body = json!({"model": "text-embedding-3-small", "input": ["hello world", "你好，世界"], "encoding_format": "base64"});
    let b64 = app.embed(&key, &body).await;
    assert_eq!(b64.status, 200, "{}", b64.body);
    assert!(b64.json()["data"][0]["embedding"].is_string());
    assert_eq!(vectors(&b64), floats, "same vectors as floats");
    assert_eq!(
        app.sim.received().pop().unwrap().body["encoding_format"],
        "float"
    );
    let sized = app
        .embed(
            &key,
            &json!({"model": "text-embedding-3-small", "input": "hello world", "dimensions": 4}),
        )
        .await;
    assert_eq!(vectors(&sized)[0].len(), 4, "dimensions reach the provider");
    assert_eq!(app.sim.received().pop().unwrap().body["dimensions"], 4);

    let (rows, cost) = charged(&app, "aembedding");
    assert_eq!(rows, 3);
    assert!(cost > 0, "priced at the input price");
    let cost_header: f64 = b64
        .header("x-tollgate-cost")
        .expect("cost header")
        .parse()
        .unwrap();
    assert!(cost_header > 0.0);
}

#[actix_web::test]
async fn gemini_embeddings_are_split_into_batches_of_100_and_joined_in_order() {
    let app = rag_app().await;
    let key = app.key("rag").await;
    let texts: Vec<String> = (0..150).map(|i| format!("document number {i}")).collect();
    let resp = app
        .embed(&key, &json!({"model": "gemini-embed", "input": texts}))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let all = vectors(&resp);
    assert_eq!(all.len(), 150);
    let calls: Vec<_> = app
        .sim
        .received()
        .into_iter()
        .filter(|r| r.path.ends_with(":batchEmbedContents"))
        .collect();
    assert_eq!(calls.len(), 2, "150 inputs = 100 + 50");
    assert_eq!(calls[0].body["requests"].as_array().unwrap().len(), 100);
    assert_eq!(
        calls[1].body["requests"][0]["content"]["parts"][0]["text"],
        "document number 100"
    );
    assert_eq!(
        calls[0].body["requests"][0]["model"],
        "models/gemini-embedding-001"
    );
    // Input 120 alone gives the vector found at index 120 of the batch answer.
    let one = app
        .embed(
            &key,
            &json!({"model": "gemini-embed", "input": "document number 120"}),
        )
        .await;
    assert_eq!(vectors(&one)[0], all[120]);
    assert!(
        resp.json()["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "estimated when Gemini reports none"
    );
}

#[actix_web::test]
async fn mistral_gets_only_the_fields_it_knows_and_token_arrays_go_only_where_accepted() {
    let app = rag_app().await;
    let key = app.key("rag").await;
    let resp = app
        .embed(&key, &json!({"model": "codestral-embed", "input": "fn main() {}", "dimensions": 256, "user": "u1", "encoding_format": "base64"}))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(vectors(&resp)[0].len(), 256);
    let seen = app.sim.received().pop().unwrap();
    assert_eq!(seen.path, "/mistral/v1/embeddings");
    assert_eq!(seen.body["output_dimension"], 256);
    assert!(seen.body.get("user").is_none() && seen.body.get("dimensions").is_none());

    // LangChain's token arrays: OpenAI-style servers take them, Mistral and Gemini do not.
    let tokens = json!([[9906, 1917], [15339]]);
    let ok = app
        .embed(&key, &json!({"model": "local-embed", "input": tokens}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(vectors(&ok).len(), 2);
    app.sim.clear_received();
    for model in ["mistral-embed", "gemini-embed"] {
        let refused = app
            .embed(&key, &json!({"model": model, "input": tokens}))
            .await;
        assert_eq!(refused.status, 400, "{model}: {}", refused.body);
        assert_eq!(refused.json()["error"]["param"], "input");
        assert!(refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text input only"));
    }
    assert!(app.sim.received().is_empty(), "nothing sent");
}

#[actix_web::test]
async fn bad_embedding_requests_are_clear_errors_that_cost_nothing() {
    let app = rag_app().await;
    let key = app.key("rag").await;
    let cases = [
        (
            json!({"model": "text-embedding-3-small", "input": []}),
            400,
            "input",
        ),
        (
            json!({"model": "text-embedding-3-small", "input": [""]}),
            400,
            "input",
        ),
        (
            json!({"model": "text-embedding-3-small", "input": [1.5, 2]}),
            400,
            "input",
        ),
        (
            json!({"model": "text-embedding-3-small", "input": [[1], "a", {}]}),
            400,
            "input",
        ),
        (json!({"model": "text-embedding-3-small"}), 400, "input"),
        (
            json!({"model": "text-embedding-3-small", "input": "x", "encoding_format": "int8"}),
            400,
            "encoding_format",
        ),
        (
            json!({"model": "text-embedding-3-small", "input": "x", "dimensions": 0}),
            400,
            "dimensions",
        ),
        (json!({"input": "x"}), 400, "model"),
        (json!({"model": "gpt-4o", "input": "x"}), 400, "model"),
        (
            json!({"model": "no-such-model", "input": "x"}),
            404,
            "model",
        ),
    ];
    for (body, status, param) in cases {
        let resp = app.embed(&key, &body).await;
        assert_eq!(resp.status.as_u16(), status, "{body}: {}", resp.body);
        let error = &resp.json()["error"];
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}: {}",
            resp.body
        );
        if status == 400 {
            assert_eq!(error["type"], "invalid_request_error");
            assert_eq!(error["param"], param, "{body}");
        }
    }
    let chat_model = app
        .embed(&key, &json!({"model": "gpt-4o", "input": "x"}))
        .await;
    assert!(
        chat_model.body.contains("gpt-4o") && chat_model.body.contains("chat"),
        "{}",
        chat_model.body
    );
    // An embedding model called as a chat model.
    let wrong_door = app
        .chat(&key, &chat_body("text-embedding-3-small", "hi"))
        .await;
    assert_eq!(wrong_door.status, 400, "{}", wrong_door.body);
    assert!(wrong_door.body.contains("embedding"), "{}", wrong_door.body);
    let missing_key = app
        .post_json(
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": "x"}),
            None,
        )
        .await;
    assert_eq!(missing_key.status, 401);
    assert!(app.sim.received().is_empty(), "no provider called");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COALESCE(SUM(cost), 0) FROM request_logs"),
        0
    );
}

#[actix_web::test]
async fn cohere_rerank_in_one_shape_priced_per_request() {
    let app = rag_app().await;
    let key = app.key("dify").await;
    let docs = json!([
        "Tollgate charges every call in real time",
        {"text": "Bananas are yellow"},
        "Budgets are charged per call and per team"
    ]);
    for path in ["/v1/rerank", "/rerank", "/v2/rerank"] {
        let resp = app
            .rerank(path, &key, &json!({"model": "rerank-v3.5", "query": "charged per call", "documents": docs, "top_n": 2, "return_documents": true}))
            .await;
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
        let body = resp.json();
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 2, "top_n");
        assert_eq!(results[0]["index"], 2, "{body}");
        assert!(results[0]["relevance_score"].as_f64() >= results[1]["relevance_score"].as_f64());
        assert_eq!(
            results[0]["document"]["text"],
            "Budgets are charged per call and per team"
        );
        assert_eq!(body["meta"]["billed_units"]["search_units"], 1);
        assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);
        assert!(body["id"].is_string());
        let seen = app.sim.received().pop().unwrap();
        assert_eq!(seen.path, "/cohere/v2/rerank");
        assert_eq!(
            seen.body["documents"][1], "Bananas are yellow",
            "Cohere v2 takes strings only"
        );
        assert!(seen.body.get("return_documents").is_none());
    }
    let without = app
        .rerank(
            "/v1/rerank",
            &key,
            &json!({"model": "rerank-v3.5", "query": "charged", "documents": docs}),
        )
        .await;
    assert_eq!(
        without.json()["results"].as_array().unwrap().len(),
        3,
        "no top_n means all"
    );
    assert!(without.json()["results"][0].get("document").is_none());
    let (rows, cost) = charged(&app, "arerank");
    assert_eq!(rows, 4);
    assert_eq!(cost, 4 * 2_000_000, "cost_per_request 0.002 USD each");
}

#[actix_web::test]
async fn jina_and_tei_style_rerank_read_their_own_shapes() {
    let app = rag_app().await;
    let key = app.key("webui").await;
    let body = json!({"model": "bge-rerank", "query": "red apple", "documents": ["a red apple", "a green pear", "red"], "return_documents": true});
    let jina = app.rerank("/v1/rerank", &key, &body).await;
    assert_eq!(jina.status, 200, "{}", jina.body);
    let seen = app.sim.received().pop().unwrap();
    assert_eq!(seen.path, "/openai/v1/rerank");
    assert_eq!(seen.body["model"], "BAAI/bge-reranker-v2-m3");
    let jina = jina.json();
    assert_eq!(jina["results"][0]["index"], 0);
    assert_eq!(jina["results"][0]["document"]["text"], "a red apple");
    let sim_tokens = jina["usage"]["prompt_tokens"].as_u64().unwrap();

    let tei_body = json!({"model": "tei-rerank", "query": "red apple", "documents": ["a red apple", "a green pear", "red"], "top_n": 1});
    let tei = app.rerank("/rerank", &key, &tei_body).await;
    assert_eq!(tei.status, 200, "{}", tei.body);
    let seen = app.sim.received().pop().unwrap();
    assert_eq!(seen.path, "/tei/rerank");
    assert_eq!(seen.body["texts"][2], "red");
    assert!(seen.body.get("documents").is_none());
    let tei = tei.json();
    assert_eq!(tei["results"].as_array().unwrap().len(), 1);
    assert_eq!(tei["results"][0]["index"], 0);
    assert!(
        tei["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "estimated: TEI reports none"
    );
    assert!(sim_tokens > 0);
    let (rows, cost) = charged(&app, "arerank");
    assert_eq!(rows, 2);
    assert!(cost > 0, "priced per token");
}

#[actix_web::test]
async fn bad_rerank_requests_are_clear_errors_that_cost_nothing() {
    let app = rag_app().await;
    let key = app.key("rag").await;
    let many: Vec<String> = (0..1001).map(|i| format!("doc {i}")).collect();
    let cases = [
        (
            json!({"model": "rerank-v3.5", "query": "q", "documents": []}),
            "documents",
        ),
        (
            json!({"model": "rerank-v3.5", "query": "q", "documents": many}),
            "documents",
        ),
        (
            json!({"model": "rerank-v3.5", "query": "q", "documents": [3]}),
            "documents",
        ),
        (json!({"model": "rerank-v3.5", "documents": ["a"]}), "query"),
        (
            json!({"model": "rerank-v3.5", "query": "q", "documents": ["a"], "top_n": -1}),
            "top_n",
        ),
        (
            json!({"model": "text-embedding-3-small", "query": "q", "documents": ["a"]}),
            "model",
        ),
        (
            json!({"model": "gpt-4o", "query": "q", "documents": ["a"]}),
            "model",
        ),
    ];
    for (body, param) in cases {
        let resp = app.rerank("/v1/rerank", &key, &body).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.body);
        assert_eq!(
            resp.json()["error"]["param"],
            param,
            "{body}: {}",
            resp.body
        );
    }
    let resp = app
        .post_raw("/v1/rerank", "application/json", "{not json", Some(&key))
        .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    assert!(app.sim.received().is_empty(), "no provider called");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COALESCE(SUM(cost), 0) FROM request_logs"),
        0
    );
    assert!(
        app.query_i64(
            "SELECT COUNT(*) FROM request_logs WHERE call_type = 'arerank' AND success = 0"
        ) >= 7
    );
}

#[actix_web::test]
async fn provider_errors_come_back_in_openai_format_with_the_key_scrubbed() {
    let app = spawn_app_with(|c| {
        for m in c
            .models
            .iter_mut()
            .filter(|m| m.name == "rerank-v3.5" || m.name == "text-embedding-3-small")
        {
            m.api_key = Some(Secret::literal("sk-wrong-provider-key"));
        }
    })
    .await;
    let key = app.key("rag").await;
    let resp = app
        .rerank(
            "/v1/rerank",
            &key,
            &json!({"model": "rerank-v3.5", "query": "q", "documents": ["a"]}),
        )
        .await;
    assert_eq!(resp.status, 401, "{}", resp.body);
    assert_eq!(resp.json()["error"]["type"], "authentication_error");
    assert!(!resp.body.contains("sk-wrong-provider-key"));
    let resp = app
        .embed(
            &key,
            &json!({"model": "text-embedding-3-small", "input": "x"}),
        )
        .await;
    assert_eq!(resp.status, 401, "{}", resp.body);
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COALESCE(SUM(cost), 0) FROM request_logs"),
        0
    );
}
