//! Gemini fake: shapes, CRLF SSE and JSON-array streams, key handling, unknown names, faults.

use serde_json::{json, Value};

use super::{spawn_sim, sse_data, TestSim};
use crate::simulator::{FaultKind, SimProvider, DEFAULT_API_KEY};

const GENERATE: &str = "/gemini/v1beta/models/gemini-1.5-pro:generateContent";
const STREAM: &str = "/gemini/v1beta/models/gemini-1.5-pro:streamGenerateContent?alt=sse";

fn request(extra: Value) -> Value {
    let mut body = json!({
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "write a poem about spring"}]}],
        "generationConfig": {"temperature": 0.5}});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

async fn call(app: &TestSim, path: &str, body: &Value) -> super::Answer {
    app.post(path, &[("x-goog-api-key", DEFAULT_API_KEY)], body)
        .await
}

#[actix_web::test]
async fn generate_content_has_candidates_usage_and_model_version() {
    let app = spawn_sim().await;
    let answer = call(&app, GENERATE, &request(json!({}))).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(candidate["finishReason"], "STOP");
    let text = candidate["content"]["parts"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("[simulated gemini gemini-1.5-pro] reply to: write a poem"));
    let usage = &body["usageMetadata"];
    assert_eq!(
        usage["candidatesTokenCount"],
        text.split_whitespace().count()
    );
    assert_eq!(body["modelVersion"], "gemini-1.5-pro-002");
}

#[actix_web::test]
async fn an_sse_stream_uses_crlf_running_usage_and_no_done() {
    let app = spawn_sim().await;
    let plain = call(&app, GENERATE, &request(json!({}))).await.json();
    let answer = call(&app, STREAM, &request(json!({}))).await;
    assert_eq!(answer.status, 200);
    assert!(answer.text.contains("\r\n\r\n"));
    assert!(!answer.text.contains("[DONE]"));
    let chunks: Vec<Value> = sse_data(&answer.text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.len() > 2);
    let (last, earlier) = chunks.split_last().unwrap();
    assert!(earlier
        .iter()
        .all(|c| c["candidates"][0].get("finishReason").is_none()));
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(
        earlier[0]["usageMetadata"]["candidatesTokenCount"].as_u64()
            < last["usageMetadata"]["candidatesTokenCount"].as_u64()
    );
    assert_eq!(last["usageMetadata"], plain["usageMetadata"]);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(
        text,
        plain["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap()
    );
    assert!(app.sim.received()[1].stream);
}

#[actix_web::test]
async fn a_stream_without_alt_sse_is_one_json_array() {
    let app = spawn_sim().await;
    let path = "/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent";
    let answer = call(&app, path, &request(json!({}))).await;
    let array: Value = serde_json::from_str(&answer.text).expect("a JSON array");
    assert!(array.as_array().unwrap().len() > 1);
}

#[actix_web::test]
async fn keys_are_checked_like_google_does() {
    let app = spawn_sim().await;
    let bearer = format!("Bearer {DEFAULT_API_KEY}");
    let oauth = app
        .post(GENERATE, &[("authorization", &bearer)], &request(json!({})))
        .await;
    assert_eq!(oauth.status, 401);
    assert_eq!(oauth.json()["error"]["status"], "UNAUTHENTICATED");
    let missing = app.post(GENERATE, &[], &request(json!({}))).await;
    assert_eq!(missing.status, 403);
    assert_eq!(missing.json()["error"]["status"], "PERMISSION_DENIED");
    let wrong = app
        .post(GENERATE, &[("x-goog-api-key", "nope")], &request(json!({})))
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(
        wrong.json()["error"]["details"][0]["reason"],
        "API_KEY_INVALID"
    );
    let query = app
        .post(
            &format!("{GENERATE}?key={DEFAULT_API_KEY}"),
            &[],
            &request(json!({})),
        )
        .await;
    assert_eq!(query.status, 200);
}

#[actix_web::test]
async fn unknown_names_roles_and_schemas_are_invalid_argument() {
    let app = spawn_sim().await;
    let nested = call(
        &app,
        GENERATE,
        &request(json!({"generationConfig": {"max_tokens": 5}})),
    )
    .await;
    assert_eq!(nested.status, 400);
    let message = nested.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(message, "Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': Cannot find field.");
    let top = call(&app, GENERATE, &request(json!({"messages": []}))).await;
    assert_eq!(top.json()["error"]["status"], "INVALID_ARGUMENT");
    let mut snake_body = request(json!({"generation_config": {"max_output_tokens": 5}}));
    snake_body
        .as_object_mut()
        .unwrap()
        .remove("generationConfig");
    let snake = call(&app, GENERATE, &snake_body).await;
    assert_eq!(snake.status, 200, "{}", snake.text);
    assert_eq!(snake.json()["candidates"][0]["finishReason"], "MAX_TOKENS");
    let role = json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]});
    assert_eq!(call(&app, GENERATE, &request(role)).await.status, 400);
    let schema = json!({"tools": [{"functionDeclarations": [{"name": "w", "parameters": {"type": "object", "additionalProperties": false}}]}]});
    assert_eq!(call(&app, GENERATE, &request(schema)).await.status, 400);
    let retired = call(
        &app,
        "/gemini/v1beta/models/gemini-pro:generateContent",
        &request(json!({})),
    )
    .await;
    assert_eq!(retired.status, 404);
    assert_eq!(retired.json()["error"]["status"], "NOT_FOUND");
}

#[actix_web::test]
async fn function_responses_need_a_name_an_object_and_a_call_before() {
    let app = spawn_sim().await;
    let call_turn =
        json!({"role": "model", "parts": [{"functionCall": {"name": "w", "args": {}}}]});
    let no_name = json!({"contents": [{"role": "user", "parts": [{"text": "weather?"}]}, call_turn,
        {"role": "user", "parts": [{"functionResponse": {"response": {"content": "sunny"}}}]}]});
    assert_eq!(call(&app, GENERATE, &request(no_name)).await.status, 400);
    let string_response = json!({"contents": [{"role": "user", "parts": [{"text": "weather?"}]}, call_turn,
        {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": "sunny"}}]}]});
    assert_eq!(
        call(&app, GENERATE, &request(string_response)).await.status,
        400
    );
    let good = json!({"contents": [{"role": "user", "parts": [{"text": "weather?"}]}, call_turn,
        {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"content": "sunny"}}}]}]});
    let answer = call(&app, GENERATE, &request(good)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let two_data = json!({"contents": [{"role": "user", "parts": [{"text": "a", "inlineData": {"mimeType": "image/png", "data": "AA=="}}]}]});
    assert_eq!(call(&app, GENERATE, &request(two_data)).await.status, 400);
}

#[actix_web::test]
async fn content_filter_blocks_the_prompt_and_tool_calls_have_no_id() {
    let app = spawn_sim().await;
    app.fault(SimProvider::Gemini, 1, FaultKind::ContentFilter);
    let blocked = call(&app, GENERATE, &request(json!({}))).await.json();
    assert_eq!(blocked["promptFeedback"]["blockReason"], "SAFETY");
    assert!(blocked.get("candidates").is_none());
    assert!(blocked["usageMetadata"]["promptTokenCount"].as_u64() > Some(0));
    assert!(blocked["usageMetadata"]
        .get("candidatesTokenCount")
        .is_none());

    app.fault(
        SimProvider::Gemini,
        1,
        FaultKind::ToolCall {
            name: "weather".into(),
            arguments: json!({"city": "Rome"}),
        },
    );
    let answer = call(&app, STREAM, &request(json!({}))).await;
    let chunks: Vec<Value> = sse_data(&answer.text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let call_part = &chunks.last().unwrap()["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call_part["args"]["city"], "Rome");
    assert!(call_part.get("id").is_none());
}
