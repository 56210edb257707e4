//! Unit tests of the OpenAI adapter's translations.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::proxy::testing::{rich_request, sorted_json, streamed_text, translate};
use crate::proxy::Piece;

fn upstream(provider: ProviderKind) -> Upstream {
    Upstream {
        route: crate::proxy::client::RouteId::DIRECT,
        provider,
        model_id: "gpt-4o".into(),
        api_base: "https://api.openai.com/v1".into(),
        api_key: Some("sk-test".into()),
        timeout: Duration::from_secs(5),
    }
}

fn wire_json(up: &Upstream, req: &ChatRequest, stream: bool) -> Value {
    sorted_json(&to_wire(up, req, stream))
}

#[test]
fn the_upstream_body_is_an_allowlist_and_asks_for_stream_usage() {
    let body = wire_json(&upstream(ProviderKind::OpenAi), &rich_request(), true);
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["max_completion_tokens"], 100);
    assert!(body.get("max_tokens").is_none());
    assert!(body.get("logprobs").is_none());
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["seed"], 42);
    assert_eq!(body["user"], "u-1");
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    let msgs = body["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 7);
    assert_eq!(msgs[1]["role"], "developer");
    assert_eq!(msgs[2]["name"], "ann");
    assert_eq!(msgs[3]["content"], Value::Null);
    assert_eq!(
        msgs[3]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(msgs[4]["tool_call_id"], "call_abc123");
    assert_eq!(
        msgs[6]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
}

#[test]
fn compatible_servers_get_max_tokens_and_system_instead_of_developer() {
    let body = wire_json(
        &upstream(ProviderKind::OpenAiCompatible),
        &rich_request(),
        false,
    );
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["messages"][1]["role"], "system");
    assert!(body.get("stream").is_none() && body.get("stream_options").is_none());
}

#[test]
fn a_plain_request_is_sent_as_a_plain_body() {
    let mut req = rich_request();
    req.messages.retain(|m| {
        matches!(m.content, Some(Content::Text(_)))
            && m.name.is_none()
            && m.tool_calls.is_empty()
            && m.tool_call_id.is_none()
    });
    (req.tools, req.tool_choice, req.stop, req.user) = (Vec::new(), None, Vec::new(), None);
    (req.seed, req.n, req.response_format) = (None, None, None);
    (req.presence_penalty, req.frequency_penalty) = (None, None);
    (req.temperature, req.top_p) = (Some(0.5), Some(0.25));
    let body = wire_json(&upstream(ProviderKind::OpenAi), &req, true);
    let roles: Vec<&str> = req.messages.iter().map(|m| m.role.as_str()).collect();
    let messages: Vec<Value> = req
        .messages
        .iter()
        .zip(roles)
        .map(|(m, role)| json!({"role": role, "content": m.content.as_ref().map(Content::text)}))
        .collect();
    assert_eq!(
        body,
        json!({"model": "gpt-4o", "messages": messages, "max_completion_tokens": 100,
            "temperature": 0.5, "top_p": 0.25, "stream": true, "stream_options": {"include_usage": true}})
    );
}

fn parse(v: Value) -> Response {
    serde_json::from_value(v).expect("response shape")
}

#[test]
fn a_tool_call_response_is_read_with_usage() {
    let resp = parse(
        json!({"id":"chatcmpl-1","object":"chat.completion","created":1732000000,"model":"gpt-4o-2024-08-06",
        "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],
        "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4}}}),
    );
    let out = from_wire(resp, &rich_request(), "gpt-4o", false).expect("ok");
    assert_eq!(out.model, "gpt-4o-2024-08-06");
    assert_eq!(out.choices[0].finish_reason, FinishReason::ToolCalls);
    assert_eq!(out.choices[0].message.content, None);
    assert_eq!(
        out.choices[0].message.tool_calls[0].arguments,
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(
        out.usage,
        Usage {
            prompt_tokens: 12,
            completion_tokens: 3,
            cached_tokens: 4,
            cache_creation_tokens: 0,
            cache_creation_1h_tokens: 0,
            ..Usage::default()
        }
    );
}

#[test]
fn missing_usage_is_an_error_for_openai_and_estimated_for_compatible_servers() {
    let body = json!({"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"length"}]});
    assert!(matches!(
        from_wire(parse(body.clone()), &rich_request(), "m", false),
        Err(UpstreamError::Protocol(_))
    ));
    let out = from_wire(parse(body), &rich_request(), "m", true).expect("lenient");
    assert_eq!(out.model, "m");
    assert_eq!(out.choices[0].finish_reason, FinishReason::Length);
    assert!(out.usage.prompt_tokens > 0 && out.usage.completion_tokens >= 3);
}

const TOOL_STREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o-x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"created\":5,\"model\":\"gpt-4o-x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"created\":5,\"model\":\"gpt-4o-x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"created\":5,\"model\":\"gpt-4o-x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"created\":5,\"model\":\"gpt-4o-x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"created\":5,\"model\":\"gpt-4o-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn a_stream_with_tool_call_fragments_and_usage_translates() {
    let out = translate(StreamState::new("gpt-4o"), TOOL_STREAM);
    let chunks: Vec<ChatChunk> = out
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("no errors");
    assert_eq!(chunks.len(), 6);
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    assert_eq!(chunks[1].choices[0].delta.content.as_deref(), Some("Hi"));
    let first = &chunks[2].choices[0].delta.tool_calls[0];
    assert_eq!(
        (first.id.as_deref(), first.name.as_deref()),
        (Some("call_9"), Some("f"))
    );
    assert_eq!(
        chunks[3].choices[0].delta.tool_calls[0]
            .arguments
            .as_deref(),
        Some("{\"a\":1}")
    );
    assert_eq!(
        chunks[4].choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    assert!(chunks[5].is_usage_only());
    assert_eq!(chunks[5].usage.map(|u| u.total()), Some(13));
    assert!(chunks
        .iter()
        .all(|c| c.id == "c1" && c.created == chunks[0].created));
}

#[test]
fn a_stream_without_done_ends_with_a_protocol_error() {
    let cut = TOOL_STREAM.replace("data: [DONE]\n\n", "");
    let out = translate(StreamState::new("gpt-4o"), &cut);
    assert_eq!(out.len(), 7);
    assert!(matches!(out.last(), Some(Err(UpstreamError::Protocol(_)))));
    assert_eq!(streamed_text(&out), "Hi");
}

#[test]
fn an_in_stream_error_becomes_a_status_error() {
    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
    let out = translate(StreamState::new("gpt-4o"), body);
    assert_eq!(out.len(), 2);
    match &out[1] {
        Err(UpstreamError::Status {
            status, message, ..
        }) => {
            assert_eq!(*status, 500);
            assert!(message.contains("server had an error"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn insufficient_quota_is_not_a_retryable_rate_limit() {
    let body = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
    let e = http::status_error(429, error_from_wire(429, body), None);
    assert!(matches!(
        e,
        UpstreamError::Status {
            kind: UpstreamErrorKind::QuotaExceeded,
            ..
        }
    ));
    assert!(!e.is_retryable());
    let rate = br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
    assert!(http::status_error(429, error_from_wire(429, rate), None).is_retryable());
}

#[test]
fn content_is_read_as_text_from_a_string_a_part_list_or_nothing() {
    let text = |content: Value| -> Option<String> {
        let raw = json!({"role": "assistant", "content": content}).to_string();
        serde_json::from_str::<WireMessage>(&raw)
            .expect("message")
            .content
            .map(|t| t.0)
    };
    assert_eq!(text(json!("héllo \"x\"")).as_deref(), Some("héllo \"x\""));
    let parts = json!([
        {"type": "thinking", "thinking": [{"type": "text", "text": "hidden"}]},
        {"type": "text", "text": "Hel"},
        {"type": "text", "text": "lo"}
    ]);
    assert_eq!(text(parts).as_deref(), Some("Hello"));
    assert_eq!(text(Value::Null), None);
    assert_eq!(text(json!(42)).as_deref(), Some(""));
    assert_eq!(text(json!({"unexpected": true})).as_deref(), Some(""));
}

#[test]
fn stream_chunks_keep_one_id_and_follow_the_model_name() {
    let mut state = StreamState::new("gpt-4o");
    let ev = |data| SseEvent { event: None, data };
    let first = state
        .chunk_from_event(&ev(
            r#"{"id":"chatcmpl-1","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"a"}}]}"#,
        ))
        .expect("first");
    let second = state
        .chunk_from_event(&ev(
            r#"{"id":"chatcmpl-other","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":[{"type":"text","text":"b"}]}}]}"#,
        ))
        .expect("second");
    assert_eq!(first[0].id, "chatcmpl-1");
    assert_eq!(second[0].id, "chatcmpl-1");
    assert_eq!(second[0].model, "gpt-4o-2024-08-06");
    assert_eq!(second[0].choices[0].delta.content.as_deref(), Some("b"));
}

/// The same translator with the text fast path switched off.
struct ParsedOnly(StreamState);

impl EventTranslator for ParsedOnly {
    fn chunk_from_event(&mut self, ev: &SseEvent<'_>) -> Result<Vec<ChatChunk>, UpstreamError> {
        self.0.chunk_from_event(ev)
    }
    fn is_done(&self) -> bool {
        self.0.is_done()
    }
    fn finish(&mut self) -> Result<Vec<ChatChunk>, UpstreamError> {
        self.0.finish()
    }
}

/// Plain chunks take the fast path (escapes, model switches back and forth, a text
/// chunk before the role chunk, and a `\u` spelling that must not) and give exactly
/// what the typed parse gives.
#[test]
fn plain_chunks_take_the_fast_path_and_agree_with_the_typed_parse() {
    let text = |model: &str, literal: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"{model}\",\"system_fingerprint\":\"fp\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{literal}}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
        )
    };
    let body = [
        text("gpt-4o-1", r#""before any role""#),
        "data: {\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"finish_reason\":null}]}\n\n".into(),
        text("gpt-4o-1", r#""Hel\"lo\"\n""#),
        text("gpt-4o-1", r#""你好 😀 \\ \t""#),
        text("gpt-4o-1", r#""caf\u00e9""#),
        text("gpt-4o-2", r#"" switched""#),
        text("gpt-4o-1", r#"" flip""#),
        text("gpt-4o-2", r#"" again""#),
        text("gpt-4o-1", r#"" back""#),
        text("gpt-4o-1", r#"" and on""#),
        // A chunk that is not text switches the model too.
        "data: {\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o-2\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}\n\n".into(),
        text("gpt-4o-1", r#"" tail""#),
        "data: {\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n".into(),
        "data: {\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11,\"prompt_tokens_details\":{\"cached_tokens\":2,\"audio_tokens\":0}}}\n\n".into(),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let mut state = StreamState::new("gpt-4o");
    let (mut fast, mut quick_chunks) = (0, 0);
    let mut parser = crate::proxy::sse::SseParser::new();
    for ev in parser.feed(body.as_bytes()) {
        match state.quick(&ev.as_event()) {
            Some(Piece::Text(_)) => fast += 1,
            Some(Piece::Chunk(_)) => quick_chunks += 1,
            None => drop(state.chunk_from_event(&ev.as_event()).expect("chunk")),
        }
    }
    // All text chunks but the \u spelling, model switches included.
    assert_eq!(fast, 9);
    // The role chunks, the finishing chunk and the usage chunk are read without the
    // typed parse too.
    assert_eq!(quick_chunks, 4);
    let strip = |out: Vec<Result<ChatChunk, UpstreamError>>| -> Vec<ChatChunk> {
        out.into_iter().map(|c| c.expect("no errors")).collect()
    };
    let with_fast_path = strip(translate(StreamState::new("gpt-4o"), &body));
    let parsed = strip(translate(ParsedOnly(StreamState::new("gpt-4o")), &body));
    assert_eq!(with_fast_path.len(), parsed.len());
    for (a, b) in with_fast_path.iter().zip(&parsed) {
        assert_eq!(
            ChatChunk {
                created: 0,
                ..a.clone()
            },
            ChatChunk {
                created: 0,
                ..b.clone()
            }
        );
    }
    assert_eq!(
        streamed_text(&with_fast_path.into_iter().map(Ok).collect::<Vec<_>>()),
        "before any roleHel\"lo\"\n你好 😀 \\ \tcafé switched flip again back and on tail"
    );
}

#[test]
fn log_probabilities_and_one_call_at_a_time_are_asked_for() {
    let mut req = rich_request();
    (req.logprobs, req.top_logprobs) = (true, Some(3));
    let body = wire_json(&upstream(ProviderKind::OpenAi), &req, false);
    assert_eq!(body["logprobs"], true);
    assert_eq!(body["top_logprobs"], 3);
    assert_eq!(body["parallel_tool_calls"], false);
    req.tools.clear();
    let body = wire_json(&upstream(ProviderKind::OpenAiCompatible), &req, false);
    assert!(
        body.get("parallel_tool_calls").is_none(),
        "OpenAI refuses it without tools"
    );
}

const LOGPROBS: &str = r#"{"content":[{"token":"Hi","logprob":-0.25,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.25,"bytes":[72,105]}]}],"refusal":null}"#;

#[test]
fn log_probabilities_come_back_answered_and_streamed() {
    let logprobs: Value = serde_json::from_str(LOGPROBS).expect("json");
    let resp = parse(
        json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
        "model": "gpt-4o", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
        "logprobs": logprobs, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}),
    );
    let out = from_wire(resp, &rich_request(), "gpt-4o", false).expect("read");
    assert_eq!(out.choices[0].logprobs.as_ref(), Some(&logprobs));
    assert_eq!(out.to_openai_json()["choices"][0]["logprobs"], logprobs);
    let stream = format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}},\"logprobs\":{LOGPROBS},\"finish_reason\":null}}]}}\n\n\
         data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]}}\n\n\
         data: [DONE]\n\n"
    );
    let chunks = translate(StreamState::new("gpt-4o"), &stream);
    assert_eq!(streamed_text(&chunks), "Hi");
    let first = chunks[0].as_ref().expect("chunk");
    assert_eq!(first.choices[0].logprobs.as_ref(), Some(&logprobs));
}
