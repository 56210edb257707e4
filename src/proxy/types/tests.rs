//! Unit tests of the canonical types' OpenAI rendering.

use super::*;
use serde_json::json;

#[test]
fn response_renders_openai_shape_with_cached_tokens() {
    let resp = ChatResponse {
        id: "chatcmpl-1".into(),
        created: 7,
        model: "m".into(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                }],
            },
            finish_reason: FinishReason::ToolCalls,
            logprobs: None,
        }],
        usage: Usage {
            prompt_tokens: 10,
            completion_tokens: 2,
            cached_tokens: 4,
            cache_creation_tokens: 0,
            cache_creation_1h_tokens: 0,
            ..Usage::default()
        },
    };
    let v = resp.to_openai_json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "f"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["usage"]["total_tokens"], 12);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
}

#[test]
fn chunks_carry_null_usage_only_when_asked() {
    let choice = ChunkChoice {
        delta: Delta {
            role: Some(Role::Assistant),
            content: Some(String::new()),
            ..Delta::default()
        },
        ..ChunkChoice::default()
    };
    let chunk = ChatChunk::single("id", 1, "m", choice);
    let with = chunk.to_openai_json(true);
    assert_eq!(with["usage"], Value::Null);
    assert_eq!(with["choices"][0]["delta"]["role"], "assistant");
    assert!(chunk.to_openai_json(false).get("usage").is_none());
    let usage = ChatChunk::usage_only(
        "id",
        1,
        "m",
        Usage {
            prompt_tokens: 3,
            ..Usage::default()
        },
    );
    let v = usage.to_openai_json(true);
    assert_eq!(v["choices"], json!([]));
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert!(usage.is_usage_only());
}

#[test]
fn tool_call_deltas_send_id_and_type_only_on_the_first_fragment() {
    let first = ToolCallDelta {
        index: 1,
        id: Some("c".into()),
        name: Some("f".into()),
        arguments: Some(String::new()),
    };
    let next = ToolCallDelta {
        index: 1,
        arguments: Some("{\"a\"".into()),
        ..ToolCallDelta::default()
    };
    let delta = |d: ToolCallDelta| {
        let choice = ChunkChoice {
            delta: Delta {
                tool_calls: vec![d],
                ..Delta::default()
            },
            ..ChunkChoice::default()
        };
        ChatChunk::single("id", 1, "m", choice).to_openai_json(false)["choices"][0]["delta"]
            ["tool_calls"][0]
            .clone()
    };
    assert_eq!(
        delta(first),
        json!({"index":1,"id":"c","type":"function","function":{"name":"f","arguments":""}})
    );
    assert_eq!(
        delta(next),
        json!({"index":1,"function":{"arguments":"{\"a\""}})
    );
}
