//! The proxy: the walkthrough's four calls, streaming, tool calls, fallback, budgets,
//! key expiry/blocking and every kind of bad input, against the strict simulator.

use awc::http::StatusCode;
use serde_json::{json, Value};
use tollgate::simulator::{FaultKind, SimProvider};

use crate::helpers::*;

/// nano-USD per token of the demo deployments (USD/Mtok × 1000).
fn nanos_per_token(model: &str) -> (i64, i64) {
    match model {
        "gpt-4o" => (2_500, 10_000),
        "claude-3-5-sonnet" => (3_000, 15_000),
        "gemini-pro" => (1_250, 10_000),
        _ => (500, 1_500),
    }
}

fn expected_cost(model: &str, usage: &Value) -> i64 {
    let (input, output) = nanos_per_token(model);
    usage["prompt_tokens"].as_i64().unwrap() * input
        + usage["completion_tokens"].as_i64().unwrap() * output
}

#[actix_web::test]
async fn the_walkthroughs_four_calls_succeed_and_cost_tokens_times_prices() {
    let app = spawn_app().await;
    let key = app
        .insert_key(KeySpec {
            alias: "zhangsan-dev-key",
            budget_usd: Some(20.0),
            ..KeySpec::default()
        })
        .await;
    let prompts = [
        "你好，请用一句话介绍你自己",
        "什么是人工智能？",
        "写一首关于春天的诗",
        "1+1等于几？",
    ];
    let mut total = 0;
    for (model, prompt) in WALKTHROUGH_MODELS.iter().zip(prompts) {
        let resp = app.chat(&key, &chat_body(model, prompt)).await;
        assert_eq!(resp.status, StatusCode::OK, "{model}: {}", resp.body);
        let body = resp.json();
        assert_eq!(body["object"], "chat.completion");
        assert!(body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("simulated"));
        let cost = expected_cost(model, &body["usage"]);
        assert!(cost > 0);
        let header: f64 = resp.header("x-tollgate-cost").unwrap().parse().unwrap();
        assert_eq!((header * 1e9).round() as i64, cost, "{model}");
        assert!(resp.header("x-request-id").unwrap().starts_with("req_"));
        total += cost;
        let remaining: f64 = resp
            .header("x-tollgate-key-remaining")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (remaining - (20.0 - total as f64 / 1e9)).abs() < 1e-6,
            "{remaining}"
        );
    }
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1"),
        4
    );
    assert_eq!(app.query_i64("SELECT SUM(cost) FROM request_logs"), total);
    assert_eq!(app.query_i64("SELECT SUM(spend) FROM usage_hourly"), total);
    assert_eq!(app.query_i64("SELECT SUM(requests) FROM usage_hourly"), 4);
    assert_eq!(
        app.query_i64("SELECT COUNT(DISTINCT provider) FROM request_logs"),
        4
    );
}

#[actix_web::test]
async fn models_lists_what_the_key_may_use() {
    let app = spawn_app().await;
    let all = app
        .insert_key(KeySpec {
            alias: "all",
            ..KeySpec::default()
        })
        .await;
    let one = app
        .insert_key(KeySpec {
            alias: "one",
            models: &["gpt-4o"],
            ..KeySpec::default()
        })
        .await;
    let list = app.get_bearer("/v1/models", &all).await.json();
    // The walkthrough's four chat models and the demo's embedding and rerank models.
    assert_eq!(list["data"].as_array().unwrap().len(), 6);
    let list = app.get_bearer("/models", &one).await.json();
    assert_eq!(list["data"][0]["id"], "gpt-4o");
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get_bearer("/models", "sk-nope").await.status,
        StatusCode::UNAUTHORIZED
    );
    // models.retrieve: a name or an alias the key may use; anything else 404 model_not_found.
    let got = app.get_bearer("/v1/models/gpt-4o", &one).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(
        (got.json()["id"].clone(), got.json()["object"].clone()),
        (json!("gpt-4o"), json!("model"))
    );
    let alias = app
        .get_bearer("/models/claude-sonnet-4-5-20250929", &all)
        .await;
    assert_eq!(
        alias.json()["id"],
        "claude-sonnet-4-5-20250929",
        "{}",
        alias.body
    );
    for (path, key) in [
        ("/v1/models/claude-3-5-sonnet", &one),
        ("/v1/models/no-such-model", &all),
    ] {
        let missing = app.get_bearer(path, key).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            missing.json()["error"]["code"],
            "model_not_found",
            "{path}: {}",
            missing.body
        );
    }
    assert_eq!(
        app.get_bearer("/v1/models/gpt-4o", "sk-nope").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// No client meets an empty 404: an unknown path is named in its door's error format.
#[actix_web::test]
async fn unknown_paths_are_named_in_the_doors_error_format() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    for path in [
        "/v1/completions",
        "/v1/audio/speech",
        "/v1/images/generations",
        "/nope",
    ] {
        let resp = app
            .post_json(path, &json!({"model": "gpt-4o"}), Some(&key))
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}");
        let error = &resp.json()["error"];
        assert_eq!(error["code"], "unknown_url", "{path}: {}", resp.body);
        assert_eq!(error["type"], "invalid_request_error");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(&format!("POST {path}")),
            "{}",
            resp.body
        );
    }
    let anthropic = app
        .post_json("/v1/messages/batches", &json!({}), Some(&key))
        .await;
    assert_eq!(anthropic.status, StatusCode::NOT_FOUND);
    assert_eq!(anthropic.json()["type"], "error", "{}", anthropic.body);
    assert_eq!(anthropic.json()["error"]["type"], "not_found_error");
    let page = app.get("/no-such-page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.is_empty());
}

/// A door's path with the wrong method is a 405 naming the method, not a 404.
#[actix_web::test]
async fn a_wrong_method_on_a_door_is_405_in_its_format() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    for path in ["/v1/chat/completions", "/v1/embeddings", "/v1/rerank"] {
        let resp = app.get_bearer(path, &key).await;
        assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(resp.header("allow").as_deref(), Some("POST"), "{path}");
        let error = &resp.json()["error"];
        assert_eq!(error["code"], "method_not_allowed", "{path}: {}", resp.body);
        assert!(error["message"]
            .as_str()
            .unwrap()
            .contains(&format!("GET {path}")));
    }
    let anthropic = app.get_bearer("/v1/messages", &key).await;
    assert_eq!(anthropic.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(anthropic.json()["type"], "error", "{}", anthropic.body);
    assert_eq!(anthropic.json()["error"]["type"], "invalid_request_error");
    // The POST itself still works.
    let ok = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[actix_web::test]
async fn every_provider_streams_the_same_text_and_tokens_as_without_streaming() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    for model in WALKTHROUGH_MODELS {
        let plain = app
            .chat(&key, &chat_body(model, "tell me about spring"))
            .await
            .json();
        let mut body = chat_body(model, "tell me about spring");
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let resp = app.chat(&key, &body).await;
        assert_eq!(resp.status, StatusCode::OK, "{model}");
        assert!(resp
            .header("content-type")
            .unwrap()
            .starts_with("text/event-stream"));
        let events = sse_data(&resp.body);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{model}");
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(
            text,
            plain["choices"][0]["message"]["content"].as_str().unwrap(),
            "{model}"
        );
        let usage = chunks
            .iter()
            .find(|c| c["choices"].as_array().is_some_and(|a| a.is_empty()))
            .expect("usage chunk");
        assert_eq!(usage["usage"], plain["usage"], "{model}");
        assert!(
            chunks
                .iter()
                .any(|c| c["choices"][0]["finish_reason"] == "stop"),
            "{model}"
        );
        assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]), "{model}");
    }
    app.flush_ledger().await;
    let streamed = app.query_i64("SELECT SUM(cost) FROM request_logs WHERE stream = 1");
    let plain = app.query_i64("SELECT SUM(cost) FROM request_logs WHERE stream = 0");
    assert_eq!(streamed, plain);
}

/// With bodies kept, a streamed answer's log row keeps exactly the text the client got,
/// for every provider (text fragments travel as the provider's string literals, so this
/// also checks their decoding).
#[actix_web::test]
async fn a_streamed_answer_is_kept_in_its_log_row_as_sent() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    for model in WALKTHROUGH_MODELS {
        let body = stream_body(model, "say \"hi\" on two\nlines, 你好");
        let resp = app.chat(&key, &body).await;
        assert_eq!(resp.status, StatusCode::OK, "{model}");
        let text = streamed_content(&resp.body);
        assert!(!text.is_empty(), "{model}");
        app.flush_ledger().await;
        let kept = app.query_text(
            "SELECT b.response FROM request_bodies b JOIN request_logs l ON l.id = b.log_id
             ORDER BY l.id DESC LIMIT 1",
        );
        assert_eq!(kept, text, "{model}");
    }
}

#[actix_web::test]
async fn a_stream_without_include_usage_has_no_usage_chunk() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let body = stream_body("mistral-large", "hello");
    let resp = app.chat(&key, &body).await;
    let events = sse_data(&resp.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(!resp.body.contains("\"usage\""), "{}", resp.body);
    app.flush_ledger().await;
    assert!(
        app.query_i64("SELECT cost FROM request_logs") > 0,
        "charged even without a usage chunk"
    );
}

#[actix_web::test]
async fn a_stream_goes_out_as_an_event_stream_framed_once() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    for model in WALKTHROUGH_MODELS {
        let resp = app.chat(&key, &stream_body(model, "hello")).await;
        assert_eq!(resp.status, StatusCode::OK, "{model}");
        // Whole with a Content-Length when the provider's stream was in hand at the
        // start, chunked otherwise; never both.
        match resp.header("content-length") {
            Some(length) => {
                assert_eq!(length, resp.body.len().to_string(), "{model}");
                assert_eq!(resp.header("transfer-encoding"), None, "{model}");
            }
            None => assert_eq!(
                resp.header("transfer-encoding").as_deref(),
                Some("chunked"),
                "{model}"
            ),
        }
        assert_eq!(
            resp.header("content-type").as_deref(),
            Some("text/event-stream"),
            "{model}"
        );
        let events = sse_data(&resp.body);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{model}");
    }
}

#[actix_web::test]
async fn a_stream_that_arrives_over_time_goes_out_as_it_arrives() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let body = app.paced_stream_body(
        SimProvider::Anthropic,
        "claude-3-5-sonnet",
        150,
        "hello there",
    );
    let client = awc::Client::default();
    let mut resp = client
        .post(format!("{}/chat/completions", app.url))
        .bearer_auth(&key)
        .send_json(&body)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let chunked = resp
        .headers()
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok());
    assert_eq!(chunked, Some("chunked"));
    assert!(resp.headers().get("content-length").is_none());
    use futures_util::StreamExt;
    let first = resp.next().await.expect("a first part").unwrap();
    let first_at = std::time::Instant::now();
    let first = String::from_utf8(first.to_vec()).unwrap();
    assert!(first.starts_with("data: {"), "{first}");
    assert!(
        !first.contains("[DONE]"),
        "the first part came before the rest"
    );
    let mut rest = String::new();
    while let Some(part) = resp.next().await {
        rest.push_str(std::str::from_utf8(&part.unwrap()).unwrap());
    }
    assert!(
        first_at.elapsed() >= std::time::Duration::from_millis(140),
        "the rest followed the provider's pace"
    );
    let whole = format!("{first}{rest}");
    let events = sse_data(&whole);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(!streamed_content(&whole).is_empty());
}

fn tool_request(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "system", "content": "You are a weather bot."}, {"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}}]
    })
}

fn provider_of(model: &str) -> SimProvider {
    match model {
        "gpt-4o" => SimProvider::OpenAi,
        "claude-3-5-sonnet" => SimProvider::Anthropic,
        "gemini-pro" => SimProvider::Gemini,
        _ => SimProvider::Mistral,
    }
}

#[actix_web::test]
async fn tool_calls_round_trip_through_every_provider() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    for model in WALKTHROUGH_MODELS {
        app.sim.push_fault(fault(
            Some(provider_of(model)),
            1,
            FaultKind::ToolCall {
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            },
        ));
        let resp = app.chat(&key, &tool_request(model)).await;
        assert_eq!(resp.status, StatusCode::OK, "{model}: {}", resp.body);
        let choice = &resp.json()["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{model}");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args["city"], "Paris");
        // Second turn: the tool result goes back; the strict fake checks ids, names and shapes.
        let mut next = tool_request(model);
        let msgs = next["messages"].as_array_mut().unwrap();
        msgs.push(json!({"role": "assistant", "content": null, "tool_calls": [call.clone()]}));
        msgs.push(
            json!({"role": "tool", "tool_call_id": call["id"], "content": "{\"temp_c\": 21}"}),
        );
        let resp = app.chat(&key, &next).await;
        assert_eq!(
            resp.status,
            StatusCode::OK,
            "{model} second turn: {}",
            resp.body
        );
    }
}

#[actix_web::test]
async fn streamed_tool_calls_arrive_as_openai_deltas() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    for model in WALKTHROUGH_MODELS {
        app.sim.push_fault(fault(
            Some(provider_of(model)),
            1,
            FaultKind::ToolCall {
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            },
        ));
        let mut body = tool_request(model);
        body["stream"] = json!(true);
        let resp = app.chat(&key, &body).await;
        let events = sse_data(&resp.body);
        let chunks: Vec<Value> = events
            .iter()
            .filter(|e| *e != "[DONE]")
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        let deltas: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
            .collect();
        assert!(!deltas.is_empty(), "{model}: {}", resp.body);
        assert_eq!(deltas[0]["function"]["name"], "get_weather", "{model}");
        let args: String = deltas
            .iter()
            .filter_map(|d| d["function"]["arguments"].as_str())
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&args).unwrap()["city"],
            "Paris",
            "{model}"
        );
        assert!(
            chunks
                .iter()
                .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"),
            "{model}"
        );
    }
}

#[actix_web::test]
async fn a_failing_deployment_falls_over_to_the_next() {
    let app = spawn_app_with(|c| {
        let second = c
            .models
            .iter()
            .find(|m| m.name == "gpt-4o")
            .unwrap()
            .clone();
        c.models.push(second);
    })
    .await;
    let key = app.key("k").await;
    app.sim.push_fault(fault(
        Some(SimProvider::OpenAi),
        1,
        FaultKind::Status {
            status: 503,
            retry_after_s: None,
        },
    ));
    let resp = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    assert_eq!(app.sim.received().len(), 2);
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1"),
        1
    );
}

#[actix_web::test]
async fn a_spent_key_budget_is_refused_before_any_provider_call() {
    let app = spawn_app().await;
    // The first key of a fresh database gets id 1: give it 20 USD of spend this hour.
    app.sql("INSERT INTO usage_hourly (hour, key_id, user_id, team_id, model, requests, successes, spend)
             VALUES (CAST(strftime('%s','now') AS INTEGER) / 3600, 1, 0, 0, 'gpt-4o', 1, 1, 20000000000)").await;
    let key = app
        .insert_key(KeySpec {
            alias: "zhangsan-dev-key",
            budget_usd: Some(20.0),
            ..KeySpec::default()
        })
        .await;
    let resp = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let err = &resp.json()["error"];
    assert_eq!(err["type"], "budget_exceeded");
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.contains("key zhangsan-dev-key") && msg.contains("20.00") && msg.contains("lifetime"),
        "{msg}"
    );
    assert!(app.sim.received().is_empty());
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 0 AND cost = 0"),
        1
    );
}

#[actix_web::test]
async fn a_small_budget_is_never_exceeded() {
    let app = spawn_app().await;
    let key = app
        .insert_key(KeySpec {
            alias: "small",
            budget_usd: Some(0.001),
            ..KeySpec::default()
        })
        .await;
    let mut body = chat_body("gpt-4o", "hello there");
    body["max_tokens"] = json!(30);
    let mut refused = 0;
    for _ in 0..12 {
        let resp = app.chat(&key, &body).await;
        if resp.status == StatusCode::BAD_REQUEST {
            assert_eq!(resp.json()["error"]["type"], "budget_exceeded");
            refused += 1;
        }
    }
    assert!(refused > 0);
    app.flush_ledger().await;
    assert!(app.query_i64("SELECT SUM(cost) FROM request_logs") <= 1_000_000);
}

#[actix_web::test]
async fn expired_and_blocked_keys_are_refused() {
    let app = spawn_app().await;
    let expired = app
        .insert_key(KeySpec {
            alias: "old",
            expires_at_ms: Some(1_000),
            ..KeySpec::default()
        })
        .await;
    let resp = app.chat(&expired, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    let key = app.key("live").await;
    assert_eq!(
        app.chat(&key, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::OK
    );
    app.sql("UPDATE keys SET blocked = 1 WHERE alias = 'live'")
        .await;
    let resp = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.json()["error"]["type"], "authentication_error");
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("blocked"));
}

#[actix_web::test]
async fn malformed_requests_get_clear_openai_errors_and_change_nothing() {
    let app = spawn_app_with(|c| c.server.max_body_bytes = 2_000).await;
    let key = app
        .insert_key(KeySpec {
            alias: "k",
            models: &["gpt-4o", "claude-3-5-sonnet"],
            ..KeySpec::default()
        })
        .await;
    let cases: Vec<(&str, &str, &str, u16, &str)> = vec![
        (
            "application/json",
            "{not json",
            "json",
            400,
            "invalid_request_error",
        ),
        (
            "text/plain",
            "hello",
            "content type",
            400,
            "invalid_request_error",
        ),
        (
            "application/json",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            "model",
            400,
            "invalid_request_error",
        ),
        (
            "application/json",
            r#"{"model":"gpt-4o"}"#,
            "messages",
            400,
            "invalid_request_error",
        ),
        (
            "application/json",
            r#"{"model":"gpt-4o","messages":[]}"#,
            "messages",
            400,
            "invalid_request_error",
        ),
        (
            "application/json",
            r#"{"model":"gpt-4o","messages":[{"role":"wizard","content":"hi"}]}"#,
            "role",
            400,
            "invalid_request_error",
        ),
        (
            "application/json",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":42}]}"#,
            "content",
            400,
            "invalid_request_error",
        ),
        (
            "application/json",
            r#"{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}"#,
            "no-such-model",
            404,
            "invalid_request_error",
        ),
        (
            "application/json",
            r#"{"model":"gemini-pro","messages":[{"role":"user","content":"hi"}]}"#,
            "gemini-pro",
            401,
            "permission_error",
        ),
    ];
    for (ct, body, needle, status, error_type) in &cases {
        let resp = app
            .post_raw("/chat/completions", ct, body, Some(&key))
            .await;
        assert_eq!(resp.status.as_u16(), *status, "{body}: {}", resp.body);
        let err = &resp.json()["error"];
        assert_eq!(err["type"], *error_type, "{body}");
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(needle),
            "{body}: {}",
            err["message"]
        );
    }
    let big = format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(3_000)
    );
    let resp = app
        .post_raw("/chat/completions", "application/json", &big, Some(&key))
        .await;
    assert_eq!(resp.status.as_u16(), 413);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    for auth in [None, Some("sk-unknown-key"), Some("not-a-key")] {
        let resp = app
            .post_raw(
                "/chat/completions",
                "application/json",
                r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
                auth,
            )
            .await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
        assert_eq!(resp.json()["error"]["type"], "authentication_error");
    }
    assert!(app.sim.received().is_empty(), "no provider was called");
    app.flush_ledger().await;
    let n = cases.len() as i64 + 4;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 0 AND cost = 0"),
        n
    );
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM request_logs"), n);
}

#[actix_web::test]
async fn provider_errors_keep_their_status_in_openai_format() {
    let app = spawn_app_with(|c| c.models.iter_mut().for_each(|m| m.max_retries = 0)).await;
    let key = app.key("k").await;
    let cases = [
        (SimProvider::OpenAi, "gpt-4o", 400, "invalid_request_error"),
        (
            SimProvider::Anthropic,
            "claude-3-5-sonnet",
            401,
            "authentication_error",
        ),
        (SimProvider::Gemini, "gemini-pro", 429, "rate_limit_error"),
        (SimProvider::Mistral, "mistral-large", 500, "api_error"),
        (
            SimProvider::Anthropic,
            "claude-3-5-sonnet",
            529,
            "api_error",
        ),
    ];
    for (provider, model, status, error_type) in cases {
        app.sim.push_fault(fault(
            Some(provider),
            1,
            FaultKind::Status {
                status,
                retry_after_s: Some(7),
            },
        ));
        let resp = app.chat(&key, &chat_body(model, "hi")).await;
        assert_eq!(resp.status.as_u16(), status, "{model}: {}", resp.body);
        assert_eq!(resp.json()["error"]["type"], error_type, "{model}");
        assert!(!resp.body.contains("tollgate-simulator-key"));
    }
    app.sim
        .push_fault(fault(Some(SimProvider::OpenAi), 1, FaultKind::Garbage));
    let resp = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(resp.status.as_u16(), 502);
    assert_eq!(resp.json()["error"]["type"], "api_error");
    // The server keeps serving.
    assert_eq!(
        app.chat(&key, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::OK
    );
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 0"),
        6
    );
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1"),
        1
    );
}

#[actix_web::test]
async fn a_slow_provider_times_out_with_504() {
    let app = spawn_app_with(|c| {
        c.models.iter_mut().for_each(|m| {
            m.max_retries = 0;
            m.timeout_s = 1;
        })
    })
    .await;
    let key = app.key("k").await;
    app.sim.push_fault(fault(
        Some(SimProvider::Mistral),
        1,
        FaultKind::Delay { ms: 2_500 },
    ));
    let resp = app.chat(&key, &chat_body("mistral-large", "hi")).await;
    assert_eq!(resp.status.as_u16(), 504, "{}", resp.body);
    assert_eq!(resp.json()["error"]["type"], "api_error");
}

#[actix_web::test]
async fn a_stream_cut_mid_way_tells_the_client_and_charges_what_was_streamed() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    app.sim.push_fault(fault(
        Some(SimProvider::Anthropic),
        1,
        FaultKind::CutStream { after_events: 5 },
    ));
    let body = stream_body("claude-3-5-sonnet", "tell me a long story about the sea");
    let resp = app.chat(&key, &body).await;
    let events = sse_data(&resp.body);
    assert_ne!(events.last().map(String::as_str), Some("[DONE]"));
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{}", resp.body);
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 0 AND cost > 0"),
        1
    );
}

#[actix_web::test]
async fn key_rpm_limits_answer_429_with_retry_after() {
    let app = spawn_app().await;
    let key = app
        .insert_key(KeySpec {
            alias: "k",
            rpm: Some(2),
            ..KeySpec::default()
        })
        .await;
    assert_eq!(
        app.chat(&key, &chat_body("gpt-4o", "1")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.chat(&key, &chat_body("gpt-4o", "2")).await.status,
        StatusCode::OK
    );
    let resp = app.chat(&key, &chat_body("gpt-4o", "3")).await;
    // Two calls may straddle a minute boundary; then the third is allowed.
    if resp.status != StatusCode::OK {
        assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.json()["error"]["type"], "rate_limit_error");
        assert!(resp.header("retry-after").is_some());
    }
}
