//! Mistral fake: shapes, last-chunk usage, 401/422/3280/3230 errors and faults.

use serde_json::{json, Value};

use super::{bearer, spawn_sim, sse_data, TestSim};
use crate::simulator::{FaultKind, SimProvider};

const PATH: &str = "/mistral/v1/chat/completions";

fn chat(extra: Value) -> Value {
    let mut body = json!({"model": "mistral-large-latest", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "1+1等于几？"}]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

async fn call(app: &TestSim, body: &Value) -> super::Answer {
    app.post(PATH, &[("authorization", &bearer())], body).await
}

#[actix_web::test]
async fn a_chat_completion_echoes_the_model() {
    let app = spawn_sim().await;
    let answer = call(&app, &chat(json!({}))).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["model"], "mistral-large-latest");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.starts_with("[simulated mistral mistral-large-latest] reply to: 1+1等于几？"));
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["completion_tokens"].as_u64() > Some(5));
}

#[actix_web::test]
async fn the_last_stream_chunk_carries_finish_and_usage() {
    let app = spawn_sim().await;
    let plain = call(&app, &chat(json!({}))).await.json();
    let answer = call(&app, &chat(json!({"stream": true}))).await;
    let data = sse_data(&answer.text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let (last, earlier) = chunks.split_last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"], plain["usage"]);
    assert!(earlier
        .iter()
        .all(|c| c.get("usage").is_none() && c["choices"][0]["finish_reason"].is_null()));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        plain["choices"][0]["message"]["content"].as_str().unwrap()
    );
}

#[actix_web::test]
async fn a_wrong_key_is_a_bare_unauthorized() {
    let app = spawn_sim().await;
    let answer = app
        .post(PATH, &[("authorization", "Bearer nope")], &chat(json!({})))
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json(), json!({"detail": "Unauthorized"}));
}

#[actix_web::test]
async fn openai_only_fields_are_a_422_list() {
    let app = spawn_sim().await;
    let answer = call(
        &app,
        &chat(json!({"stream": true, "stream_options": {"include_usage": true}, "seed": 1})),
    )
    .await;
    assert_eq!(answer.status, 422);
    let detail = answer.json()["message"]["detail"].clone();
    assert_eq!(detail.as_array().map(Vec::len), Some(2));
    assert!(detail
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["type"] == "extra_forbidden"));
    assert!(detail
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["loc"] == json!(["body", "stream_options"])));
    let named = json!({"messages": [{"role": "user", "content": "hi", "name": "bob"}]});
    let answer = call(&app, &chat(named)).await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.json()["message"]["detail"][0]["loc"],
        json!(["body", "messages", 0, "user", "name"])
    );
    assert_eq!(
        call(&app, &chat(json!({"max_completion_tokens": 5})))
            .await
            .status,
        422
    );
}

#[actix_web::test]
async fn tool_ids_and_message_order_are_checked() {
    let app = spawn_sim().await;
    let openai_id = json!({"messages": [{"role": "user", "content": "w?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_abc123", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_abc123"}]});
    let answer = call(&app, &chat(openai_id)).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["code"], "3280");
    assert_eq!(answer.json()["type"], "invalid_function_call");
    let good = json!({"messages": [{"role": "user", "content": "w?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "abc123XYZ", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "abc123XYZ", "name": "w"}]});
    assert_eq!(call(&app, &chat(good)).await.status, 200);
    let last_assistant = json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]});
    let answer = call(&app, &chat(last_assistant)).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["code"], "3230");
    let model = call(&app, &chat(json!({"model": "mistral-large"}))).await;
    assert_eq!(model.status, 400);
    assert_eq!(model.json()["type"], "invalid_model");
}

#[actix_web::test]
async fn a_tool_call_fault_comes_whole_with_a_nine_char_id() {
    let app = spawn_sim().await;
    app.fault(
        SimProvider::Mistral,
        2,
        FaultKind::ToolCall {
            name: "weather".into(),
            arguments: json!({"city": "Lyon"}),
        },
    );
    let body = call(&app, &chat(json!({}))).await.json();
    let tool_call = &body["choices"][0]["message"]["tool_calls"][0];
    let id = tool_call["id"].as_str().unwrap();
    assert!(id.len() == 9 && id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let answer = call(&app, &chat(json!({"stream": true}))).await;
    let data = sse_data(&answer.text);
    let last: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        last["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Lyon\"}"
    );
    assert!(last.get("usage").is_some());
}

#[actix_web::test]
async fn a_stream_delay_spreads_events_over_time() {
    let app = spawn_sim().await;
    app.fault(SimProvider::Mistral, 1, FaultKind::StreamDelay { ms: 20 });
    let started = std::time::Instant::now();
    let answer = call(&app, &chat(json!({"stream": true}))).await;
    let events = sse_data(&answer.text).len();
    assert!(started.elapsed() >= std::time::Duration::from_millis(20 * (events as u64 - 1)));
}
