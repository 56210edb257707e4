//! Unit tests of the Mistral adapter's translations.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::proxy::http::status_error;
use crate::proxy::testing::{rich_request, translate};
use crate::proxy::types::{FinishReason, Usage};
use crate::proxy::ProviderKind;

fn upstream() -> Upstream {
    Upstream {
        route: crate::proxy::client::RouteId::DIRECT,
        provider: ProviderKind::Mistral,
        model_id: "mistral-large-latest".into(),
        api_base: "https://api.mistral.ai/v1".into(),
        api_key: Some("mistral-key".into()),
        timeout: Duration::from_secs(5),
    }
}

#[test]
fn the_body_drops_what_mistral_rejects() {
    let body = to_wire(&upstream(), &rich_request(), true).expect("body");
    for absent in [
        "stream_options",
        "seed",
        "user",
        "max_completion_tokens",
        "logprobs",
    ] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
    assert_eq!(body["random_seed"], 42);
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["stream"], true);
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["parallel_tool_calls"], false);
    let msgs = body["messages"].as_array().expect("messages");
    assert_eq!(
        msgs[0],
        json!({"role": "system", "content": "You are terse.\n\nUse metric units."})
    );
    assert_eq!(
        msgs[1],
        json!({"role": "user", "content": "Weather in Paris?"})
    );
    assert_eq!(msgs.len(), 6);
}

#[test]
fn tool_call_ids_are_rewritten_consistently_to_nine_alphanumerics() {
    let body = to_wire(&upstream(), &rich_request(), false).expect("body");
    let call_id = body["messages"][2]["tool_calls"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(call_id.len(), 9);
    assert!(call_id.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(body["messages"][3]["tool_call_id"], call_id.as_str());
    assert_eq!(body["messages"][3]["name"], "get_weather");
    assert_eq!(mistral_id("call_abc123"), call_id);
    assert_eq!(mistral_id("D681PevKs"), "D681PevKs");
}

#[test]
fn required_tool_choice_is_any_and_a_final_assistant_turn_is_a_prefix() {
    let mut req = rich_request();
    req.tool_choice = Some(crate::proxy::types::ToolChoice::Required);
    req.messages.truncate(6);
    let body = to_wire(&upstream(), &req, false).expect("body");
    assert_eq!(body["tool_choice"], "any");
    assert_eq!(
        body["messages"][4],
        json!({"role": "assistant", "content": "21°C.", "prefix": true})
    );
}

#[test]
fn a_tool_call_response_with_empty_content_is_read() {
    let resp: openai::Response = serde_json::from_value(json!({"id":"cf79","object":"chat.completion","created":1732000000,
        "model":"mistral-large-latest","choices":[{"index":0,"message":{"role":"assistant","content":"",
        "tool_calls":[{"id":"D681PevKs","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}]},
        "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}))
    .expect("shape");
    let out = openai::from_wire(resp, &rich_request(), "m", false).expect("ok");
    assert_eq!(out.choices[0].message.content, None);
    assert_eq!(out.choices[0].message.tool_calls[0].id, "D681PevKs");
    assert_eq!(out.choices[0].finish_reason, FinishReason::ToolCalls);
    assert_eq!(out.usage.total(), 15);
}

#[test]
fn the_last_stream_chunk_carries_finish_and_usage() {
    let body = concat!(
        "data: {\"id\":\"s1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"mistral-large-latest\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"s1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"mistral-large-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Bonjour\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"s1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"mistral-large-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"model_length\"}],\"usage\":{\"prompt_tokens\":7,\"total_tokens\":10,\"completion_tokens\":3}}\n\n",
        "data: [DONE]\n\n",
    );
    let out = translate(openai::StreamState::new("mistral-large-latest"), body);
    let chunks: Vec<_> = out
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("no errors");
    assert_eq!(chunks.len(), 4);
    assert_eq!(
        chunks[2].choices[0].finish_reason,
        Some(FinishReason::Length)
    );
    assert!(chunks[3].is_usage_only());
    assert_eq!(
        chunks[3].usage,
        Some(Usage {
            prompt_tokens: 7,
            completion_tokens: 3,
            ..Usage::default()
        })
    );
}

#[test]
fn error_shapes_are_read() {
    let pydantic = br#"{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","stream_options"],
        "msg":"Extra inputs are not permitted","input":{}}]},"type":"invalid_request_error","param":null,"code":null}"#;
    assert_eq!(
        error_from_wire(422, pydantic).message,
        "body.stream_options: Extra inputs are not permitted"
    );
    let rate = br#"{"object":"error","message":"Rate limit exceeded","type":"rate_limited","param":null,"code":"1300"}"#;
    let e = status_error(
        429,
        error_from_wire(429, rate),
        Some(Duration::from_secs(2)),
    );
    assert!(e.is_retryable() && e.to_string().contains("Rate limit exceeded"));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    assert!(!status_error(
        401,
        error_from_wire(401, br#"{"detail":"Unauthorized"}"#),
        None
    )
    .is_retryable());
}
