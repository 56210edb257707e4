//! The Anthropic Messages door (SPEC §10) through the strict fakes: passthrough to an
//! Anthropic deployment keeps every field and header, translation to the other
//! providers answers in Anthropic's shapes (JSON and the event sequence), bad input gets
//! Anthropic-format errors and costs nothing, and every turn is charged like chat.

use serde_json::{json, Value};
use tollgate::simulator::SimProvider;

use crate::helpers::*;

const BETA: &str =
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27";

fn body(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 256, "stream": stream,
           "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
           "messages": [{"role": "user", "content": [{"type": "text", "text": "say hi"}]}]})
}

/// The data of each event, in order, with its `event:` name.
fn events(sse: &str) -> Vec<(String, Value)> {
    sse.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let name = f
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_default()
                .to_string();
            let data = f
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("null");
            (name, serde_json::from_str(data).unwrap_or(Value::Null))
        })
        .collect()
}

#[actix_web::test]
async fn passthrough_to_anthropic_keeps_beta_fields_and_headers_and_is_charged() {
    let app = spawn_app().await;
    let key = app.key("claude-code").await;
    let mut b = body("claude-3-5-sonnet", false);
    b["metadata"] = json!({"user_id": "{\"device_id\":\"d1\"}"});
    b["context_management"] =
        json!({"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]});
    let resp = app
        .messages(
            &key,
            &b,
            &[
                ("anthropic-beta", BETA),
                ("user-agent", "claude-cli/2.1.197 (external, sdk-cli)"),
            ],
        )
        .await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    let msg = resp.json();
    assert_eq!(msg["type"], "message");
    assert!(msg["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(resp.header("request-id").is_some());
    let seen = app.sim.received().pop().unwrap();
    assert_eq!(seen.provider, SimProvider::Anthropic);
    assert_eq!(
        seen.body["model"], "claude-sonnet-4-5",
        "only the model is replaced"
    );
    assert_eq!(seen.body["context_management"], b["context_management"]);
    assert_eq!(seen.body["metadata"], b["metadata"]);
    assert_eq!(
        seen.body["system"], b["system"],
        "cache_control passes through"
    );
    let header = |n: &str| {
        seen.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("anthropic-beta").as_deref(), Some(BETA));
    assert_eq!(
        header("x-api-key").as_deref(),
        Some(tollgate::simulator::DEFAULT_API_KEY)
    );
    app.flush_ledger().await;
    assert_eq!(
        app.query_text("SELECT call_type FROM request_logs"),
        "anthropic_messages"
    );
    assert_eq!(
        app.query_text("SELECT user_agent FROM request_logs"),
        "claude-cli/2.1.197 (external, sdk-cli)"
    );
    assert!(app.query_i64("SELECT cost FROM request_logs") > 0);
}

#[actix_web::test]
async fn a_passed_through_stream_arrives_event_for_event_and_ends_in_message_stop() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let resp = app
        .messages(&key, &body("claude-3-5-sonnet", true), &[])
        .await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    let evs = events(&resp.body);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    assert!(names.contains(&"content_block_delta") && names.contains(&"message_delta"));
    for (name, data) in &evs {
        assert_eq!(
            data["type"].as_str(),
            Some(name.as_str()),
            "event name matches its type"
        );
    }
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1 AND stream = 1"),
        1
    );
    assert!(app.query_i64("SELECT completion_tokens FROM request_logs") > 0);
}

#[actix_web::test]
async fn translated_to_openai_the_answer_is_an_anthropic_message_and_stream() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let resp = app.messages(&key, &body("gpt-4o", false), &[]).await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    let msg = resp.json();
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["model"], "gpt-4o");
    assert_eq!(msg["stop_reason"], "end_turn");
    assert!(msg["content"][0]["text"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert!(msg["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let seen = app.sim.received().pop().unwrap();
    assert_eq!(seen.provider, SimProvider::OpenAi);
    assert_eq!(
        seen.body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );

    let resp = app.messages(&key, &body("gemini-pro", true), &[]).await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    let evs = events(&resp.body);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..2],
        ["message_start", "content_block_start"],
        "{names:?}"
    );
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"],
        "{names:?}"
    );
    let text: String = evs
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert!(!text.is_empty());
    let delta = &evs[evs.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64(
            "SELECT COUNT(*) FROM request_logs WHERE call_type = 'anthropic_messages' AND cost > 0"
        ),
        2
    );
}

#[actix_web::test]
async fn tool_use_round_trips_through_a_translated_provider() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let tools = json!([{"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    let mut b = body("gpt-4o", false);
    b["tools"] = tools.clone();
    b["tool_choice"] = json!({"type": "any"});
    b["messages"] = json!([{"role": "user", "content": "weather in Paris? use the tool"}]);
    app.sim.push_fault(fault(
        Some(SimProvider::OpenAi),
        1,
        tollgate::simulator::FaultKind::ToolCall {
            name: "get_weather".into(),
            arguments: json!({"city": "Paris"}),
        },
    ));
    let resp = app.messages(&key, &b, &[]).await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    let msg = resp.json();
    let call = msg["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "tool_use")
        .cloned()
        .expect("a tool_use block");
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city": "Paris"}));
    let mut next = b.clone();
    next["tool_choice"] = json!({"type": "auto"});
    next["messages"] = json!([
        {"role": "user", "content": "weather in Paris? use the tool"},
        {"role": "assistant", "content": [call.clone()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "sunny, 21°C"}]}
    ]);
    let resp = app.messages(&key, &next, &[]).await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    let seen = app.sim.received().pop().unwrap();
    let msgs = seen.body["messages"].as_array().unwrap();
    assert_eq!(msgs[msgs.len() - 1]["role"], "tool");
    assert_eq!(msgs[msgs.len() - 1]["tool_call_id"], call["id"]);
    assert_eq!(
        msgs[msgs.len() - 2]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
}

#[actix_web::test]
async fn bad_input_gets_anthropic_errors_and_costs_nothing() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let limited = app
        .insert_key(KeySpec {
            alias: "gpt-only",
            models: &["gpt-4o"],
            ..KeySpec::default()
        })
        .await;
    let spent = app
        .insert_key(KeySpec {
            alias: "spent",
            budget_usd: Some(0.0),
            ..KeySpec::default()
        })
        .await;
    let mut no_max = body("gpt-4o", false);
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let mut wrong_type = body("gpt-4o", false);
    wrong_type["max_tokens"] = json!("lots");
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (&key, no_max, 400, "invalid_request_error"),
        (&key, wrong_type, 400, "invalid_request_error"),
        (&key, body("no-such-model", false), 404, "not_found_error"),
        (
            &limited,
            body("claude-3-5-sonnet", false),
            403,
            "permission_error",
        ),
        (
            "sk-unknown-key-0000000000000000000000",
            body("gpt-4o", false),
            401,
            "authentication_error",
        ),
        (&spent, body("gpt-4o", false), 400, "budget_exceeded"),
    ];
    for (k, b, status, kind) in cases {
        let resp = app.messages(k, &b, &[]).await;
        assert_eq!(resp.status.as_u16(), status, "{}", resp.body);
        let e = resp.json();
        assert_eq!(e["type"], "error", "{}", resp.body);
        assert_eq!(e["error"]["type"], kind, "{}", resp.body);
        assert!(e["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")));
        assert!(resp.header("request-id").is_some());
    }
    let malformed = app
        .client_raw_post("/v1/messages", "{not json", &[("x-api-key", &key)])
        .await;
    assert_eq!(malformed.status.as_u16(), 400);
    assert_eq!(malformed.json()["error"]["type"], "invalid_request_error");
    assert!(app.sim.received().is_empty(), "nothing reached a provider");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COALESCE(SUM(cost), 0) FROM request_logs"),
        0
    );
}

#[actix_web::test]
async fn an_anthropic_deployment_error_is_forwarded_as_it_came() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let mut b = body("claude-3-5-sonnet", false);
    b["temperature"] = json!(7);
    let resp = app.messages(&key, &b, &[]).await;
    assert_eq!(resp.status.as_u16(), 400, "{}", resp.body);
    let e = resp.json();
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("temperature"),
        "{}",
        resp.body
    );
}

#[actix_web::test]
async fn count_tokens_is_answered_and_never_charged() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    for model in ["gpt-4o", "claude-3-5-sonnet"] {
        let b = json!({"model": model, "messages": [{"role": "user", "content": "how many tokens is this sentence?"}]});
        let resp = app
            .client_raw_post(
                "/v1/messages/count_tokens?beta=true",
                &b.to_string(),
                &[("x-api-key", &key)],
            )
            .await;
        assert_eq!(resp.status.as_u16(), 200, "{model}: {}", resp.body);
        assert!(
            resp.json()["input_tokens"].as_u64().is_some_and(|n| n > 0),
            "{}",
            resp.body
        );
    }
    app.flush_ledger().await;
    assert_eq!(app.count("request_logs"), 0);
}
