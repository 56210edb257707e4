//! Unit tests of the Anthropic adapter's translations.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::proxy::testing::{rich_request, sorted_json, streamed_text, translate};
use crate::proxy::{ProviderKind, UpstreamErrorKind};

fn upstream(model: &str) -> Upstream {
    Upstream {
        route: crate::proxy::client::RouteId::DIRECT,
        provider: ProviderKind::Anthropic,
        model_id: model.into(),
        api_base: "https://api.anthropic.com".into(),
        api_key: Some("sk-ant-test".into()),
        timeout: Duration::from_secs(5),
    }
}

fn wire_json(up: &Upstream, req: &ChatRequest, stream: bool) -> Value {
    sorted_json(&to_wire(up, req, stream).expect("body"))
}

#[test]
fn the_messages_body_moves_system_merges_turns_and_maps_tools() {
    let body = wire_json(
        &upstream("claude-3-5-sonnet-20241022"),
        &rich_request(),
        false,
    );
    assert_eq!(body["system"], "You are terse.\n\nUse metric units.");
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(body["metadata"], json!({"user_id": "u-1"}));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        body["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    for absent in [
        "seed",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "user",
        "stream",
        "logprobs",
        "stream_options",
    ] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
    let msgs = body["messages"].as_array().expect("messages");
    let roles: Vec<&str> = msgs.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"]);
    assert_eq!(
        msgs[0]["content"],
        json!([{"type": "text", "text": "Weather in Paris?"}])
    );
    assert_eq!(
        msgs[1]["content"][0],
        json!({"type": "tool_use", "id": "call_abc123", "name": "get_weather", "input": {"city": "Paris"}})
    );
    assert_eq!(
        msgs[2]["content"],
        json!([{"type": "tool_result", "tool_use_id": "call_abc123", "content": "{\"temp_c\":21}"}])
    );
    assert_eq!(
        msgs[4]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="})
    );
}

#[test]
fn a_request_without_tools_sends_no_tool_choice_and_only_what_it_set() {
    let mut req = rich_request();
    req.tools.clear();
    (req.stop, req.user, req.top_p) = (Vec::new(), None, None);
    let body = wire_json(&upstream("claude-3-5-sonnet-20241022"), &req, true);
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "max_tokens",
            "messages",
            "model",
            "stream",
            "system",
            "temperature"
        ]
    );
    assert_eq!(body["stream"], true);
}

#[test]
fn max_tokens_is_always_set_and_capped_by_model() {
    let mut req = rich_request();
    req.max_tokens = None;
    assert_eq!(
        wire_json(&upstream("claude-3-haiku-20240307"), &req, true)["max_tokens"],
        4096
    );
    assert_eq!(max_tokens("claude-sonnet-4-20250514", None), 4096);
    assert_eq!(max_tokens("claude-3-5-sonnet-latest", Some(20_000)), 8192);
    assert_eq!(max_tokens("claude-3-opus-20240229", Some(9000)), 4096);
    assert_eq!(max_tokens("claude-opus-4-1", Some(50_000)), 50_000);
}

#[test]
fn impossible_requests_are_refused_before_the_call() {
    let mut req = rich_request();
    req.n = Some(2);
    assert!(matches!(
        to_wire(&upstream("claude-3-5-sonnet-latest"), &req, false),
        Err(UpstreamError::InvalidRequest(_))
    ));
    let mut req = rich_request();
    req.messages[3].tool_calls[0].arguments = "not json".into();
    assert!(matches!(
        to_wire(&upstream("claude-3-5-sonnet-latest"), &req, false),
        Err(UpstreamError::InvalidRequest(_))
    ));
}

#[test]
fn a_tool_use_response_with_cache_usage_is_read() {
    let msg: MessageResponse = serde_json::from_value(json!({"id":"msg_01","type":"message","role":"assistant",
        "model":"claude-3-5-sonnet-20241022","content":[{"type":"text","text":"Let me check."},
        {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],
        "stop_reason":"tool_use","stop_sequence":null,
        "usage":{"input_tokens":12,"output_tokens":3,"cache_creation_input_tokens":5,"cache_read_input_tokens":7}}))
    .expect("shape");
    let out = from_wire(msg, false);
    assert_eq!(out.id, "msg_01");
    let choice = &out.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls);
    assert_eq!(choice.message.content.as_deref(), Some("Let me check."));
    assert_eq!(
        choice.message.tool_calls[0].arguments,
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(
        out.usage,
        Usage {
            prompt_tokens: 24,
            completion_tokens: 3,
            cached_tokens: 7,
            cache_creation_tokens: 5,
            cache_creation_1h_tokens: 0,
            ..Usage::default()
        }
    );
    assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
    assert_eq!(finish_reason("refusal"), FinishReason::ContentFilter);
    assert_eq!(finish_reason("stop_sequence"), FinishReason::Stop);
}

const STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-3-5-sonnet-20241022\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\ndata: {\"type\":\"ping\"}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

#[test]
fn a_tool_use_stream_translates_with_a_running_tool_index() {
    let out = translate(StreamState::new("claude-3-5-sonnet-20241022"), STREAM);
    let chunks: Vec<ChatChunk> = out
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("no errors");
    assert_eq!(chunks.len(), 7);
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    assert_eq!(
        chunks[1].choices[0].delta.content.as_deref(),
        Some("Checking")
    );
    let header = &chunks[2].choices[0].delta.tool_calls[0];
    assert_eq!(
        (header.index, header.id.as_deref(), header.name.as_deref()),
        (0, Some("toolu_1"), Some("get_weather"))
    );
    let args: String = chunks[3..5]
        .iter()
        .filter_map(|c| c.choices[0].delta.tool_calls[0].arguments.clone())
        .collect();
    assert_eq!(args, "{\"city\": \"Paris\"}");
    assert_eq!(
        chunks[5].choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    assert_eq!(
        chunks[6].usage,
        Some(Usage {
            prompt_tokens: 25,
            completion_tokens: 42,
            ..Usage::default()
        })
    );
    assert!(chunks.iter().all(|c| c.id == "msg_1"));
}

/// `body` with its `event:` lines dropped.
fn without_event_names(body: &str) -> String {
    body.lines()
        .filter(|l| !l.starts_with("event:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The chunks of an error-free stream, with `created` zeroed so two runs compare.
fn chunks_at_time_zero(body: &str) -> Vec<ChatChunk> {
    translate(StreamState::new("m"), body)
        .into_iter()
        .map(|c| ChatChunk {
            created: 0,
            ..c.expect("no errors")
        })
        .collect()
}

/// Events are parsed by their `event:` name; a stream without names (or with names we
/// do not know) goes through the `type`-tagged parse and gives the same chunks.
#[test]
fn named_and_unnamed_events_translate_alike() {
    let named = chunks_at_time_zero(STREAM);
    assert_eq!(named.len(), 7);
    assert_eq!(chunks_at_time_zero(&without_event_names(STREAM)), named);
}

/// Text deltas take the literal-copying fast path when written as Anthropic writes them
/// (escapes included), and the parsed path otherwise; both give the same chunks.
#[test]
fn text_deltas_take_the_fast_path_and_agree_with_the_parsed_path() {
    let delta = |index: u32, literal: &str| {
        format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"text_delta\",\"text\":{literal}}}}}\n\n"
        )
    };
    let literals = [
        (r#""Hello""#, true),
        (r#"" say \"hi\"\n\tto \\ 你好 😀""#, true),
        (r#""""#, true),
        (r#""caf\u00e9""#, false),
        (r#""a\/b""#, false),
    ];
    let mut body = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_9\",\"model\":\"claude-x\",\"content\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
    );
    let mut state = StreamState::new("m");
    for (i, (literal, fast)) in literals.iter().enumerate() {
        let event = delta(i as u32 % 2, literal);
        body.push_str(&event);
        let data = event
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("data line");
        let ev = SseEvent {
            event: Some("content_block_delta"),
            data,
        };
        assert_eq!(state.quick(&ev).is_some(), *fast, "{literal}");
    }
    body.push_str(concat!(
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ));
    let named = chunks_at_time_zero(&body);
    assert_eq!(chunks_at_time_zero(&without_event_names(&body)), named);
    assert_eq!(
        streamed_text(&named.iter().cloned().map(Ok).collect::<Vec<_>>()),
        "Hello say \"hi\"\n\tto \\ 你好 😀café\u{0}".replace('\u{0}', "a/b")
    );
    assert!(named
        .iter()
        .all(|c| c.id == "msg_9" && c.model == "claude-x"));
}

#[test]
fn a_stream_cut_before_message_stop_ends_with_a_protocol_error() {
    let cut = STREAM
        .split("event: message_delta")
        .next()
        .unwrap_or_default();
    let out = translate(StreamState::new("m"), cut);
    assert_eq!(streamed_text(&out), "Checking");
    assert!(matches!(out.last(), Some(Err(UpstreamError::Protocol(_)))));
}

#[test]
fn an_overloaded_error_event_is_a_retryable_529() {
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    let out = translate(StreamState::new("m"), body);
    match out.last() {
        Some(Err(
            e @ UpstreamError::Status {
                status: 529,
                kind: UpstreamErrorKind::Server,
                ..
            },
        )) => {
            assert!(e.is_retryable());
            assert!(e.to_string().contains("Overloaded"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn error_bodies_keep_the_provider_message() {
    let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_1"}"#;
    let e = http::status_error(400, error_from_wire(400, body), None);
    assert!(e.to_string().contains("max_tokens: Field required"));
    assert!(!e.is_retryable());
}

/// Without `message_start` the stream still has one id, minted, on every chunk.
#[test]
fn a_stream_without_message_start_gets_one_minted_id() {
    let body: String = STREAM
        .split("\n\n")
        .filter(|e| !e.is_empty() && !e.starts_with("event: message_start"))
        .map(|e| format!("{e}\n\n"))
        .collect();
    let chunks: Vec<ChatChunk> = translate(StreamState::new("m"), &body)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("no errors");
    assert!(chunks.len() >= 3);
    let id = &chunks[0].id;
    assert!(id.starts_with("msg_") && id.len() > 10, "{id}");
    assert!(chunks.iter().all(|c| &c.id == id));
}

fn json_request(format: Value) -> ChatRequest {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "Give me a city."}],
        "response_format": format});
    ChatRequest::parse(body.to_string().as_bytes()).expect("valid")
}

#[test]
fn a_json_response_format_becomes_a_forced_tool() {
    let up = upstream("claude-sonnet-4-5");
    let body = wire_json(&up, &json_request(json!({"type": "json_object"})), false);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "json_response"})
    );
    assert_eq!(body["tools"][0]["name"], "json_response");
    assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}},
        "required": ["city"], "additionalProperties": false});
    let format = json!({"type": "json_schema", "json_schema": {"name": "city", "schema": schema}});
    let body = wire_json(&up, &json_request(format), true);
    assert_eq!(body["tools"][0]["input_schema"], schema);
    let text = wire_json(&up, &json_request(json!({"type": "text"})), false);
    assert!(text.get("tools").is_none() && text.get("tool_choice").is_none());
}

#[test]
fn what_anthropic_cannot_honour_is_refused_not_dropped() {
    let up = upstream("claude-sonnet-4-5");
    let mut with_tools = rich_request();
    with_tools.response_format = Some(json!({"type": "json_object"}));
    let mut logprobs = json_request(json!({"type": "text"}));
    logprobs.logprobs = true;
    for req in [with_tools, logprobs] {
        assert!(matches!(
            to_wire(&up, &req, false),
            Err(UpstreamError::InvalidRequest(_))
        ));
    }
}

#[test]
fn the_forced_tool_input_is_the_answer_text() {
    let msg: MessageResponse = serde_json::from_value(json!({"id":"msg_01","type":"message","role":"assistant",
        "model":"claude-sonnet-4-5","content":[{"type":"tool_use","id":"toolu_1","name":"json_response","input":{"city":"Paris"}}],
        "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":3}}))
    .expect("shape");
    let out = from_wire(msg, true);
    let choice = &out.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::Stop);
    assert_eq!(
        choice.message.content.as_deref(),
        Some("{\"city\":\"Paris\"}")
    );
    assert!(choice.message.tool_calls.is_empty());
}

#[test]
fn a_json_answer_streams_the_forced_tool_input_as_text() {
    let stream = STREAM.replace("get_weather", "json_response");
    let chunks: Vec<ChatChunk> = translate(StreamState::new("m").answering_in_json(), &stream)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("no errors");
    let text: String = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.content.as_deref())
        .collect();
    assert_eq!(text, "{\"city\": \"Paris\"}");
    assert!(chunks
        .iter()
        .flat_map(|c| &c.choices)
        .all(|c| c.delta.tool_calls.is_empty()));
    let finish: Vec<FinishReason> = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.finish_reason)
        .collect();
    assert_eq!(finish, [FinishReason::Stop]);
}
