//! OpenAI fake: shapes, auth, allowlist, pairing and faults.

use serde_json::{json, Value};

use super::{bearer, spawn_sim, sse_data, TestSim};
use crate::simulator::{FaultKind, SimProvider};

const PATH: &str = "/openai/v1/chat/completions";

fn chat(extra: Value) -> Value {
    let mut body = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello from the test suite"}]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

async fn call(app: &TestSim, body: &Value) -> super::Answer {
    app.post(PATH, &[("authorization", &bearer())], body).await
}

#[actix_web::test]
async fn a_chat_completion_has_openai_shape_and_snapshot_model() {
    let app = spawn_sim().await;
    let answer = call(&app, &chat(json!({}))).await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o-2024-08-06");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.starts_with("[simulated openai gpt-4o] reply to: hello from the test suite"));
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let usage = &body["usage"];
    assert_eq!(
        usage["completion_tokens"],
        content.split_whitespace().count()
    );
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let received = app.sim.received();
    assert_eq!(received.len(), 1);
    assert!(!received[0].stream);
}

#[actix_web::test]
async fn a_stream_with_include_usage_matches_the_plain_answer() {
    let app = spawn_sim().await;
    let plain = call(&app, &chat(json!({}))).await.json();
    let answer = call(
        &app,
        &chat(json!({"stream": true, "stream_options": {"include_usage": true}})),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(answer.content_type.starts_with("text/event-stream"));
    let data = sse_data(&answer.text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.len() > 4, "one event per word");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert!(rest
        .iter()
        .all(|c| c["usage"].is_null() && c.get("usage").is_some()));
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"], plain["usage"]);
    let text: String = rest
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        plain["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert!(app.sim.received()[1].stream);
}

#[actix_web::test]
async fn a_stream_without_include_usage_has_no_usage_field() {
    let app = spawn_sim().await;
    let answer = call(&app, &chat(json!({"stream": true}))).await;
    let data = sse_data(&answer.text);
    let first: Value = serde_json::from_str(&data[0]).unwrap();
    assert!(first.get("usage").is_none());
}

#[actix_web::test]
async fn wrong_and_missing_keys_are_401() {
    let app = spawn_sim().await;
    let wrong = app
        .post(
            PATH,
            &[("authorization", "Bearer sk-wrong")],
            &chat(json!({})),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "invalid_api_key");
    assert!(!wrong.text.contains("sk-wrong"));
    let missing = app.post(PATH, &[], &chat(json!({}))).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["error"]["type"], "invalid_request_error");
}

#[actix_web::test]
async fn unknown_fields_and_models_are_refused() {
    let app = spawn_sim().await;
    let unknown = call(&app, &chat(json!({"foo": 1}))).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.json()["error"]["message"],
        "Unrecognized request argument supplied: foo"
    );
    let model = call(&app, &chat(json!({"model": "gpt-5-turbo-ultra"}))).await;
    assert_eq!(model.status, 404);
    assert_eq!(model.json()["error"]["code"], "model_not_found");
    let options = call(
        &app,
        &chat(json!({"stream_options": {"include_usage": true}})),
    )
    .await;
    assert_eq!(options.status, 400);
}

#[actix_web::test]
async fn tool_calls_must_be_answered_by_tool_messages() {
    let app = spawn_sim().await;
    let messages = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "user", "content": "well?"}]);
    let answer = call(&app, &chat(json!({"messages": messages}))).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("call_1"));
}

#[actix_web::test]
async fn max_tokens_cuts_with_finish_length() {
    let app = spawn_sim().await;
    let body = call(&app, &chat(json!({"max_tokens": 3}))).await.json();
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 3);
}

#[actix_web::test]
async fn a_rate_limit_fault_applies_twice_then_stops() {
    let app = spawn_sim().await;
    app.fault(
        SimProvider::OpenAi,
        2,
        FaultKind::Status {
            status: 429,
            retry_after_s: Some(7),
        },
    );
    for _ in 0..2 {
        let answer = call(&app, &chat(json!({}))).await;
        assert_eq!(answer.status, 429);
        assert_eq!(answer.retry_after.as_deref(), Some("7"));
        assert_eq!(answer.json()["error"]["code"], "rate_limit_exceeded");
    }
    assert_eq!(call(&app, &chat(json!({}))).await.status, 200);
}

#[actix_web::test]
async fn a_tool_call_fault_streams_an_id_then_argument_fragments() {
    let app = spawn_sim().await;
    let arguments = json!({"city": "Paris"});
    app.fault(
        SimProvider::OpenAi,
        1,
        FaultKind::ToolCall {
            name: "weather".into(),
            arguments: arguments.clone(),
        },
    );
    let answer = call(&app, &chat(json!({"stream": true}))).await;
    let data = sse_data(&answer.text);
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert!(calls[0][0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(calls[0][0]["function"]["name"], "weather");
    let args: String = calls
        .iter()
        .filter_map(|c| c[0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), arguments);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[actix_web::test]
async fn a_cut_stream_never_sends_done_and_garbage_is_not_json() {
    let app = spawn_sim().await;
    app.fault(
        SimProvider::OpenAi,
        1,
        FaultKind::CutStream { after_events: 3 },
    );
    let cut = call(&app, &chat(json!({"stream": true}))).await;
    assert_eq!(sse_data(&cut.text).len(), 3);
    assert!(!cut.text.contains("[DONE]"));
    app.fault(SimProvider::OpenAi, 1, FaultKind::Garbage);
    let garbage = call(&app, &chat(json!({}))).await;
    assert_eq!(garbage.status, 200);
    assert!(serde_json::from_str::<Value>(&garbage.text).is_err());
}
