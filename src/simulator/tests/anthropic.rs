//! Anthropic fake: shapes, named events, headers, pydantic errors, pairing and faults.

use serde_json::{json, Value};

use super::{spawn_sim, sse_data, sse_names, TestSim};
use crate::simulator::{FaultKind, SimProvider, DEFAULT_API_KEY};

const PATH: &str = "/anthropic/v1/messages";

fn messages(extra: Value) -> Value {
    let mut body = json!({"model": "claude-3-5-sonnet-20241022", "max_tokens": 1024, "system": "be brief",
        "messages": [{"role": "user", "content": "what is artificial intelligence?"}]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

async fn call(app: &TestSim, body: &Value) -> super::Answer {
    let headers = [
        ("x-api-key", DEFAULT_API_KEY),
        ("anthropic-version", "2023-06-01"),
    ];
    app.post(PATH, &headers, body).await
}

#[actix_web::test]
async fn a_message_has_anthropic_shape_and_usage() {
    let app = spawn_sim().await;
    let answer = call(&app, &messages(json!({}))).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["type"], "message");
    assert_eq!(body["model"], "claude-3-5-sonnet-20241022");
    assert_eq!(body["stop_reason"], "end_turn");
    let text = body["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("[simulated anthropic claude-3-5-sonnet-20241022] reply to: what is"));
    assert_eq!(
        body["usage"]["output_tokens"],
        text.split_whitespace().count()
    );
    assert_eq!(body["usage"]["cache_read_input_tokens"], 0);
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 4);
}

#[actix_web::test]
async fn an_alias_resolves_to_the_dated_id() {
    let app = spawn_sim().await;
    let body = call(
        &app,
        &messages(json!({"model": "claude-3-5-sonnet-latest"})),
    )
    .await
    .json();
    assert_eq!(body["model"], "claude-3-5-sonnet-20241022");
}

#[actix_web::test]
async fn a_stream_sends_named_events_with_cumulative_usage() {
    let app = spawn_sim().await;
    let plain = call(&app, &messages(json!({}))).await.json();
    let answer = call(&app, &messages(json!({"stream": true}))).await;
    let names = sse_names(&answer.text);
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert!(names.contains(&"ping".to_string()));
    let tail: Vec<&str> = names.iter().rev().take(3).map(String::as_str).collect();
    assert_eq!(
        tail,
        ["message_stop", "message_delta", "content_block_stop"]
    );
    let data: Vec<Value> = sse_data(&answer.text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        data[0]["message"]["usage"]["input_tokens"],
        plain["usage"]["input_tokens"]
    );
    let text: String = data
        .iter()
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, plain["content"][0]["text"].as_str().unwrap());
    let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(
        delta["usage"]["output_tokens"],
        plain["usage"]["output_tokens"]
    );
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
}

#[actix_web::test]
async fn bearer_auth_and_a_missing_version_are_refused() {
    let app = spawn_sim().await;
    let bearer = format!("Bearer {DEFAULT_API_KEY}");
    let answer = app
        .post(
            PATH,
            &[
                ("authorization", &bearer),
                ("anthropic-version", "2023-06-01"),
            ],
            &messages(json!({})),
        )
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["type"], "error");
    assert_eq!(answer.json()["error"]["type"], "authentication_error");
    let no_version = app
        .post(
            PATH,
            &[("x-api-key", DEFAULT_API_KEY)],
            &messages(json!({})),
        )
        .await;
    assert_eq!(no_version.status, 400);
    assert_eq!(no_version.json()["error"]["type"], "invalid_request_error");
}

#[actix_web::test]
async fn extra_inputs_and_missing_max_tokens_are_400() {
    let app = spawn_sim().await;
    let named = call(
        &app,
        &messages(json!({"messages": [{"role": "user", "content": "hi", "name": "bob"}]})),
    )
    .await;
    assert_eq!(named.status, 400);
    assert_eq!(
        named.json()["error"]["message"],
        "messages.0.name: Extra inputs are not permitted"
    );
    let top = call(&app, &messages(json!({"n": 1}))).await;
    assert_eq!(
        top.json()["error"]["message"],
        "n: Extra inputs are not permitted"
    );
    let mut body = messages(json!({}));
    body.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(
        call(&app, &body).await.json()["error"]["message"],
        "max_tokens: Field required"
    );
}

#[actix_web::test]
async fn models_caps_ranges_and_roles_are_checked() {
    let app = spawn_sim().await;
    let bare = call(&app, &messages(json!({"model": "claude-3-5-sonnet"}))).await;
    assert_eq!(bare.status, 404);
    assert_eq!(bare.json()["error"]["type"], "not_found_error");
    assert_eq!(
        call(&app, &messages(json!({"max_tokens": 8193})))
            .await
            .status,
        400
    );
    assert_eq!(
        call(
            &app,
            &messages(json!({"model": "claude-sonnet-4-5", "max_tokens": 64000}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(&app, &messages(json!({"temperature": 1.5})))
            .await
            .status,
        400
    );
    let system_role = json!({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}]});
    assert_eq!(call(&app, &messages(system_role)).await.status, 400);
    let assistant_first = json!({"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "hi"}]});
    assert_eq!(call(&app, &messages(assistant_first)).await.status, 400);
    let twice =
        json!({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]});
    assert_eq!(call(&app, &messages(twice)).await.status, 400);
    let empty = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]});
    assert_eq!(call(&app, &messages(empty)).await.status, 400);
    assert_eq!(
        call(&app, &messages(json!({"tool_choice": "auto"})))
            .await
            .status,
        400
    );
}

#[actix_web::test]
async fn tool_use_must_be_answered_by_a_matching_tool_result() {
    let app = spawn_sim().await;
    let call_turn = json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}]});
    let wrong = json!({"messages": [{"role": "user", "content": "weather?"}, call_turn,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "sunny"}]}]});
    let answer = call(&app, &messages(wrong)).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tool_use_id"));
    let right = json!({"messages": [{"role": "user", "content": "weather?"}, call_turn,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}]});
    let answer = call(&app, &messages(right)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.json()["content"][0]["text"]
        .as_str()
        .unwrap()
        .ends_with("reply to: sunny"));
}

#[actix_web::test]
async fn tool_call_content_filter_and_in_stream_error_faults() {
    let app = spawn_sim().await;
    app.fault(
        SimProvider::Anthropic,
        1,
        FaultKind::ToolCall {
            name: "weather".into(),
            arguments: json!({"city": "Oslo"}),
        },
    );
    let tool = call(&app, &messages(json!({}))).await.json();
    assert_eq!(tool["stop_reason"], "tool_use");
    assert_eq!(tool["content"][1]["type"], "tool_use");
    assert!(tool["content"][1]["id"]
        .as_str()
        .unwrap()
        .starts_with("toolu_"));
    assert_eq!(tool["content"][1]["input"]["city"], "Oslo");

    app.fault(SimProvider::Anthropic, 1, FaultKind::ContentFilter);
    let refused = call(&app, &messages(json!({}))).await.json();
    assert_eq!(refused["stop_reason"], "refusal");

    app.fault(SimProvider::Anthropic, 1, FaultKind::InStreamError);
    let broken = call(&app, &messages(json!({"stream": true}))).await;
    assert_eq!(broken.status, 200);
    let names = sse_names(&broken.text);
    assert_eq!(names.last().map(String::as_str), Some("error"));
    assert!(!names.contains(&"message_stop".to_string()));
}
