//! Unit tests of the Gemini adapter's translations.

use serde_json::json;

use super::*;
use crate::proxy::testing::{rich_request, streamed_text, translate};

#[test]
fn the_request_uses_contents_system_instruction_and_generation_config() {
    let body = to_wire(&rich_request()).expect("body");
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are terse.\n\nUse metric units."}]})
    );
    assert_eq!(
        body["generationConfig"],
        json!({"maxOutputTokens": 100, "temperature": 1.0, "topP": 0.9, "candidateCount": 1, "seed": 42,
               "presencePenalty": 0.5, "frequencyPenalty": 0.25, "stopSequences": ["END"]})
    );
    for absent in [
        "model",
        "messages",
        "user",
        "max_tokens",
        "stream",
        "tool_choice",
    ] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
    let contents = body["contents"].as_array().expect("contents");
    let roles: Vec<&str> = contents.iter().filter_map(|c| c["role"].as_str()).collect();
    assert_eq!(roles, ["user", "model", "user", "model", "user"]);
    assert_eq!(
        contents[1]["parts"][0],
        json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}})
    );
    assert_eq!(
        contents[2]["parts"][0],
        json!({"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}})
    );
    assert_eq!(
        contents[4]["parts"][1],
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "AUTO"}})
    );
}

#[test]
fn tool_schemas_are_stripped_to_gemini_subset() {
    let body = to_wire(&rich_request()).expect("body");
    let decl = &body["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["name"], "get_weather");
    assert_eq!(
        decl["parameters"],
        json!({"type": "object", "required": ["city"], "properties": {
            "city": {"type": "string"}, "unit": {"type": "string", "nullable": true, "enum": ["c"]}}})
    );
    let mut req = rich_request();
    req.tools[0].parameters = Some(json!({"type": "object", "properties": {}}));
    let body = to_wire(&req).expect("body");
    assert!(body["tools"][0]["functionDeclarations"][0]
        .get("parameters")
        .is_none());
}

#[test]
fn string_tool_results_are_wrapped_and_unknown_ids_refused() {
    let mut req = rich_request();
    req.messages[4].content = Some(Content::Text("sunny".into()));
    let body = to_wire(&req).expect("body");
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"content": "sunny"})
    );
    req.messages[4].tool_call_id = Some("call_unknown".into());
    assert!(matches!(
        to_wire(&req),
        Err(UpstreamError::InvalidRequest(_))
    ));
}

#[test]
fn json_response_format_sets_the_mime_type() {
    let mut req = rich_request();
    req.response_format = Some(json!({"type": "json_schema", "json_schema": {"name": "x",
        "schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": false}}}));
    let config = &to_wire(&req).expect("body")["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(
        config["responseSchema"],
        json!({"type": "object", "properties": {"a": {"type": "integer"}}})
    );
}

fn parse(v: Value) -> GenerateResponse {
    serde_json::from_value(v).expect("shape")
}

#[test]
fn a_function_call_response_gets_minted_ids_and_tool_calls_reason() {
    let resp = parse(
        json!({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather",
        "args":{"city":"Paris"}}}]},"finishReason":"STOP","index":0}],
        "usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":3,"thoughtsTokenCount":2,"totalTokenCount":17,
        "cachedContentTokenCount":4},"modelVersion":"gemini-1.5-pro-002","responseId":"resp-1"}),
    );
    let out = from_wire(resp, "gemini-1.5-pro").expect("ok");
    assert_eq!(
        (out.id.as_str(), out.model.as_str()),
        ("resp-1", "gemini-1.5-pro-002")
    );
    let choice = &out.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls);
    assert_eq!(choice.message.content, None);
    assert!(choice.message.tool_calls[0].id.starts_with("call_"));
    assert_eq!(
        choice.message.tool_calls[0].arguments,
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(
        out.usage,
        Usage {
            prompt_tokens: 12,
            completion_tokens: 5,
            cached_tokens: 4,
            cache_creation_tokens: 0,
            cache_creation_1h_tokens: 0,
            ..Usage::default()
        }
    );
}

#[test]
fn finish_reasons_and_blocked_prompts_map_per_the_table() {
    let resp = parse(
        json!({"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"MAX_TOKENS"}],
        "usageMetadata":{"promptTokenCount":5,"totalTokenCount":5}}),
    );
    let out = from_wire(resp, "gemini-x").expect("ok");
    assert_eq!(out.choices[0].finish_reason, FinishReason::Length);
    assert_eq!(out.usage.completion_tokens, 0);
    let blocked = parse(
        json!({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":8}}),
    );
    let out = from_wire(blocked, "gemini-x").expect("ok");
    assert_eq!(out.choices[0].finish_reason, FinishReason::ContentFilter);
    assert_eq!(out.choices[0].message.content.as_deref(), Some(""));
    assert_eq!(out.usage.prompt_tokens, 8);
    assert_eq!(
        finish_reason(Some("RECITATION"), false),
        FinishReason::ContentFilter
    );
    assert_eq!(finish_reason(Some("OTHER"), false), FinishReason::Stop);
}

const STREAM: &str = concat!(
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The weather\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 2,\"totalTokenCount\": 11},\"modelVersion\": \"gemini-1.5-flash-002\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" is nice\"}, {\"functionCall\": {\"name\": \"f\", \"args\": {\"a\": 1}}}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 5,\"totalTokenCount\": 14},\"modelVersion\": \"gemini-1.5-flash-002\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 7,\"totalTokenCount\": 16},\"modelVersion\": \"gemini-1.5-flash-002\"}\r\n\r\n",
);

#[test]
fn a_crlf_stream_translates_and_reports_the_last_usage() {
    let out = translate(StreamState::new("gemini-1.5-flash"), STREAM);
    let chunks: Vec<ChatChunk> = out
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("no errors");
    assert_eq!(chunks.len(), 5);
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    assert_eq!(
        chunks[1].choices[0].delta.content.as_deref(),
        Some("The weather")
    );
    let call = &chunks[2].choices[0].delta.tool_calls[0];
    assert!(call.id.as_deref().is_some_and(|id| id.starts_with("call_")));
    assert_eq!(call.arguments.as_deref(), Some("{\"a\":1}"));
    assert_eq!(
        chunks[3].choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    assert_eq!(
        chunks[4].usage,
        Some(Usage {
            prompt_tokens: 9,
            completion_tokens: 7,
            ..Usage::default()
        })
    );
    assert!(chunks
        .iter()
        .all(|c| c.id == chunks[0].id && c.model == "gemini-1.5-flash-002"));
}

#[test]
fn a_stream_without_finish_reason_ends_with_a_protocol_error() {
    let cut = STREAM
        .rsplit_once("data: ")
        .map_or(STREAM, |(head, _)| head);
    let out = translate(StreamState::new("gemini-1.5-flash"), cut);
    assert_eq!(streamed_text(&out), "The weather is nice");
    assert!(matches!(out.last(), Some(Err(UpstreamError::Protocol(_)))));
}

#[test]
fn an_in_stream_error_is_a_status_error() {
    let body = "data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded.\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n";
    let out = translate(StreamState::new("g"), body);
    assert!(matches!(
        out.last(),
        Some(Err(UpstreamError::Status { status: 503, .. }))
    ));
}

#[test]
fn error_bodies_give_retry_delay_and_spot_bad_keys() {
    let rate = br#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED",
        "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}"#;
    let e = http::status_error(429, error_from_wire(429, rate), None);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    assert!(e.is_retryable());
    let bad_key = br#"[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
        "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}]"#;
    let e = http::status_error(400, error_from_wire(400, bad_key), None);
    assert!(matches!(
        e,
        UpstreamError::Status {
            status: 400,
            kind: UpstreamErrorKind::Authentication,
            ..
        }
    ));
}

#[test]
fn log_probabilities_are_asked_for_and_come_back_in_openai_shape() {
    let mut req = rich_request();
    (req.logprobs, req.top_logprobs) = (true, Some(2));
    let config = &to_wire(&req).expect("body")["generationConfig"];
    assert_eq!(config["responseLogprobs"], true);
    assert_eq!(config["logprobs"], 2);
    assert!(to_wire(&rich_request()).expect("body")["generationConfig"]
        .get("responseLogprobs")
        .is_none());
    let resp = parse(
        json!({"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},
        "finishReason":"STOP","index":0,"logprobsResult":{
            "topCandidates":[{"candidates":[{"token":"Hi","logProbability":-0.5}]}],
            "chosenCandidates":[{"token":"Hi","logProbability":-0.5}]}}],
        "usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}),
    );
    let out = from_wire(resp, "gemini-2.0-flash").expect("ok");
    assert_eq!(
        out.choices[0].logprobs.as_ref().expect("logprobs")["content"][0],
        json!({"token": "Hi", "logprob": -0.5, "bytes": [72, 105],
               "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}]})
    );
}
