//! Chat fidelity (issue 16): log probabilities, JSON answers and one tool call at a time
//! reach the providers that can honour them and come back; where a provider cannot, the
//! request is refused with a clear 400 and nothing is charged.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

fn with(mut body: Value, fields: Value) -> Value {
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// The tokens of an OpenAI `logprobs` object, joined.
fn logprob_text(logprobs: &Value) -> String {
    logprobs["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect()
}

fn check_entries(logprobs: &Value, top: usize) {
    for entry in logprobs["content"].as_array().unwrap() {
        assert!(entry["logprob"].as_f64().unwrap() < 0.0, "{entry}");
        let token = entry["token"].as_str().unwrap();
        assert_eq!(entry["bytes"], json!(token.as_bytes()));
        assert_eq!(entry["top_logprobs"].as_array().unwrap().len(), top);
    }
}

#[actix_web::test]
async fn log_probabilities_come_back_from_openai_and_gemini_answered_and_streamed() {
    let app = spawn_app().await;
    let key = app.key("logprobs").await;
    let ask = json!({"logprobs": true, "top_logprobs": 2});
    for model in ["gpt-4o", "gemini-pro"] {
        let resp = app
            .chat(&key, &with(chat_body(model, "hi"), ask.clone()))
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{model}: {}", resp.body);
        let choice = &resp.json()["choices"][0];
        let logprobs = &choice["logprobs"];
        assert_eq!(
            logprob_text(logprobs),
            choice["message"]["content"].as_str().unwrap(),
            "{model}: one entry per token of the answer"
        );
        check_entries(logprobs, 2);

        let resp = app
            .chat(&key, &with(stream_body(model, "hi"), ask.clone()))
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{model}: {}", resp.body);
        let chunks: Vec<Value> = sse_data(&resp.body)
            .iter()
            .filter(|e| *e != "[DONE]")
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        let mut streamed = String::new();
        for chunk in &chunks {
            let choice = &chunk["choices"][0];
            if let Some(text) = choice["delta"]["content"]
                .as_str()
                .filter(|t| !t.is_empty())
            {
                check_entries(&choice["logprobs"], 2);
                assert_eq!(logprob_text(&choice["logprobs"]), text, "{model}");
                streamed.push_str(text);
            }
        }
        assert!(!streamed.is_empty(), "{model}");
    }
    let plain = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(plain.json()["choices"][0]["logprobs"], Value::Null);
}

#[actix_web::test]
async fn what_a_provider_cannot_honour_is_refused_clearly_and_costs_nothing() {
    let app = spawn_app().await;
    let key = app.key("refused").await;
    let cases = [
        (
            with(
                chat_body("claude-3-5-sonnet", "hi"),
                json!({"logprobs": true}),
            ),
            "log probabilities",
        ),
        (
            with(chat_body("mistral-large", "hi"), json!({"logprobs": true})),
            "log probabilities",
        ),
        (
            with(chat_body("gpt-4o", "hi"), json!({"top_logprobs": 3})),
            "'top_logprobs' needs 'logprobs'",
        ),
        (
            with(
                chat_body("gpt-4o", "hi"),
                json!({"response_format": {"type": "yaml"}}),
            ),
            "'response_format.type'",
        ),
        (
            with(
                chat_body("claude-3-5-sonnet", "hi"),
                json!({"response_format": {"type": "json_object"},
                       "tools": [{"type": "function", "function": {"name": "f"}}]}),
            ),
            "cannot be combined with 'tools'",
        ),
    ];
    for (body, says) in cases {
        let resp = app.chat(&key, &body).await;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            resp.body
        );
        let error = &resp.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "{}", resp.body);
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{}",
            resp.body
        );
    }
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COALESCE(SUM(cost), 0) FROM request_logs"),
        0
    );
    assert_eq!(
        app.query_i64("SELECT COALESCE(SUM(spend), 0) FROM usage_hourly"),
        0
    );
}

#[actix_web::test]
async fn a_json_response_format_gives_json_from_an_anthropic_model() {
    let app = spawn_app().await;
    let key = app.key("json").await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"},
        "population": {"type": "integer"}}, "required": ["city", "population"],
        "additionalProperties": false});
    let formats = [
        json!({"type": "json_object"}),
        json!({"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": true}}),
    ];
    for format in formats {
        let ask = json!({"response_format": format});
        let resp = app
            .chat(
                &key,
                &with(chat_body("claude-3-5-sonnet", "A city?"), ask.clone()),
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
        let body = resp.json();
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "stop");
        assert!(choice["message"].get("tool_calls").is_none(), "{body}");
        let answer: Value =
            serde_json::from_str(choice["message"]["content"].as_str().unwrap()).unwrap();
        assert!(answer.is_object(), "{answer}");
        if format["type"] == "json_schema" {
            assert!(
                answer["city"].is_string() && answer["population"].is_i64(),
                "{answer}"
            );
        }
        assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);

        let resp = app
            .chat(
                &key,
                &with(stream_body("claude-3-5-sonnet", "A city?"), ask),
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
        let streamed: Value = serde_json::from_str(&streamed_content(&resp.body)).unwrap();
        assert_eq!(streamed, answer, "the stream says what the answer says");
        assert!(!resp.body.contains("tool_calls"), "{}", resp.body);
        assert!(resp.body.contains("\"finish_reason\":\"stop\""));
    }
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1 AND cost > 0"),
        4
    );
}

#[actix_web::test]
async fn one_tool_call_at_a_time_reaches_anthropic_as_disable_parallel_tool_use() {
    let app = spawn_app().await;
    let key = app.key("tools").await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    for model in WALKTHROUGH_MODELS {
        let body = with(
            chat_body(model, "Weather in Paris?"),
            json!({"tools": tools, "parallel_tool_calls": false}),
        );
        let resp = app.chat(&key, &body).await;
        assert_eq!(resp.status, StatusCode::OK, "{model}: {}", resp.body);
    }
}
