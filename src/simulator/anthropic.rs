//! Fake Anthropic Messages API (`POST /anthropic/v1/messages`).
//!
//! Checks `x-api-key` + `anthropic-version`, the pydantic-style allowlists (top level, messages,
//! blocks, tools), turn order, `tool_use`/`tool_result` pairing, model ids and output caps, and
//! answers in Anthropic's shapes (PROVIDERS.md §1–§4, §6, §7). Block-level details live in
//! `anthropic_blocks.rs`. It does not simulate thinking, citations or prompt caching.

use serde_json::{json, Map, Value};

use super::anthropic_blocks::{check_messages, check_system, check_tool_choice, check_tools};
use super::dispatch::Incoming;
use super::errors::Rejection;
use super::reply::{self, Accepted, Finish, Reply};
use super::stream::Framed;
use super::tokens;

/// The first `anthropic-version`; the fake accepts it and any later dated version (the
/// current SDKs send newer dates, which the API accepts).
const VERSION: &str = "2023-06-01";

fn is_version(v: &str) -> bool {
    let b = v.as_bytes();
    v.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && v.chars()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && v >= VERSION
}

/// Top-level fields of a Messages request.
const FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
];

/// Known models: (id as sent, dated id reported back, max output tokens).
pub(super) const MODELS: &[(&str, &str, u64)] = &[
    (
        "claude-3-5-sonnet-20241022",
        "claude-3-5-sonnet-20241022",
        8192,
    ),
    (
        "claude-3-5-sonnet-20240620",
        "claude-3-5-sonnet-20240620",
        8192,
    ),
    (
        "claude-3-5-sonnet-latest",
        "claude-3-5-sonnet-20241022",
        8192,
    ),
    (
        "claude-3-5-haiku-20241022",
        "claude-3-5-haiku-20241022",
        8192,
    ),
    ("claude-3-5-haiku-latest", "claude-3-5-haiku-20241022", 8192),
    (
        "claude-3-7-sonnet-20250219",
        "claude-3-7-sonnet-20250219",
        64_000,
    ),
    (
        "claude-3-7-sonnet-latest",
        "claude-3-7-sonnet-20250219",
        64_000,
    ),
    ("claude-3-opus-20240229", "claude-3-opus-20240229", 4096),
    ("claude-3-opus-latest", "claude-3-opus-20240229", 4096),
    ("claude-3-haiku-20240307", "claude-3-haiku-20240307", 4096),
    (
        "claude-sonnet-4-20250514",
        "claude-sonnet-4-20250514",
        64_000,
    ),
    ("claude-sonnet-4-0", "claude-sonnet-4-20250514", 64_000),
    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 64_000),
    (
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5-20250929",
        64_000,
    ),
    ("claude-opus-4-1", "claude-opus-4-1-20250805", 32_000),
    (
        "claude-opus-4-1-20250805",
        "claude-opus-4-1-20250805",
        32_000,
    ),
    ("claude-haiku-4-5", "claude-haiku-4-5-20251001", 64_000),
    (
        "claude-haiku-4-5-20251001",
        "claude-haiku-4-5-20251001",
        64_000,
    ),
];

/// Checks a request the way Anthropic does.
pub fn accept(inc: &Incoming) -> Result<Accepted, Rejection> {
    check_headers(inc)?;
    let body = inc.body.and_then(Value::as_object).ok_or_else(|| {
        Rejection::anthropic_invalid(
            "There was an error parsing the body of your request: expected a JSON object",
        )
    })?;
    if let Some(field) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(Rejection::anthropic_invalid(&format!(
            "{field}: Extra inputs are not permitted"
        )));
    }
    for field in ["model", "max_tokens", "messages"] {
        if !body.contains_key(field) {
            return Err(Rejection::anthropic_invalid(&format!(
                "{field}: Field required"
            )));
        }
    }
    check_scalars(body)?;
    if let Some(system) = body.get("system") {
        check_system(system)?;
    }
    let messages = check_messages(body.get("messages").unwrap_or(&Value::Null))?;
    check_tools(body.get("tools"))?;
    check_tool_choice(body.get("tool_choice"))?;
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    let (_, resolved, cap) = MODELS
        .iter()
        .find(|(id, _, _)| *id == model)
        .ok_or_else(|| Rejection::anthropic(404, "not_found_error", &format!("model: {model}")))?;
    let max_tokens = body.get("max_tokens").and_then(Value::as_u64).unwrap_or(0);
    if max_tokens > *cap {
        let message = format!("max_tokens: {max_tokens} > {cap}, which is the maximum allowed number of output tokens for {resolved}");
        return Err(Rejection::anthropic_invalid(&message));
    }
    let mut texts: Vec<String> = body
        .get("system")
        .map(tokens::collect_text)
        .into_iter()
        .collect();
    texts.extend(messages.iter().map(tokens::collect_text));
    texts.extend(body.get("tools").map(Value::to_string));
    Ok(Accepted {
        model: model.to_string(),
        response_model: (*resolved).to_string(),
        stream: body.get("stream") == Some(&Value::Bool(true)),
        include_usage: false,
        sse: true,
        max_tokens: Some(u32::try_from(max_tokens).unwrap_or(u32::MAX)),
        prompt_tokens: tokens::prompt_tokens(texts.iter().map(String::as_str)),
        user_text: tokens::last_user_text(messages),
        logprobs: None,
        forced_tool: forced_tool(body),
    })
}

pub(super) fn check_headers(inc: &Incoming) -> Result<(), Rejection> {
    match inc.header("x-api-key") {
        None => {
            return Err(Rejection::anthropic(
                401,
                "authentication_error",
                "x-api-key header is required",
            ))
        }
        Some(key) if key != inc.api_key => {
            return Err(Rejection::anthropic(
                401,
                "authentication_error",
                "invalid x-api-key",
            ))
        }
        Some(_) => {}
    }
    match inc.header("anthropic-version") {
        None => Err(Rejection::anthropic_invalid(
            "anthropic-version: header is required",
        )),
        Some(v) if is_version(v) => Ok(()),
        Some(other) => Err(Rejection::anthropic_invalid(&format!(
            "anthropic-version: invalid version \"{other}\""
        ))),
    }
}

fn check_scalars(body: &Map<String, Value>) -> Result<(), Rejection> {
    if !body.get("model").is_some_and(Value::is_string) {
        return Err(Rejection::anthropic_invalid(
            "model: Input should be a valid string",
        ));
    }
    match body.get("max_tokens").and_then(Value::as_u64) {
        Some(n) if n >= 1 => {}
        _ => {
            return Err(Rejection::anthropic_invalid(
                "max_tokens: Input should be greater than or equal to 1",
            ))
        }
    }
    for field in ["temperature", "top_p"] {
        if let Some(value) = body.get(field) {
            let Some(v) = value.as_f64() else {
                return Err(Rejection::anthropic_invalid(&format!(
                    "{field}: Input should be a valid number"
                )));
            };
            if v > 1.0 {
                return Err(Rejection::anthropic_invalid(&format!(
                    "{field}: Input should be less than or equal to 1"
                )));
            }
            if v < 0.0 {
                return Err(Rejection::anthropic_invalid(&format!(
                    "{field}: Input should be greater than or equal to 0"
                )));
            }
        }
    }
    if let Some(stops) = body.get("stop_sequences") {
        if !stops
            .as_array()
            .is_some_and(|s| s.iter().all(Value::is_string))
        {
            return Err(Rejection::anthropic_invalid(
                "stop_sequences: Input should be a valid list of strings",
            ));
        }
    }
    if let Some(extra) = body
        .get("metadata")
        .and_then(Value::as_object)
        .and_then(|m| m.keys().find(|k| *k != "user_id"))
    {
        return Err(Rejection::anthropic_invalid(&format!(
            "metadata.{extra}: Extra inputs are not permitted"
        )));
    }
    Ok(())
}

/// The tool `tool_choice: {"type": "tool", "name"}` forces, with its input schema.
fn forced_tool(body: &Map<String, Value>) -> Option<(String, Value)> {
    let choice = body.get("tool_choice")?;
    if choice.get("type").and_then(Value::as_str) != Some("tool") {
        return None;
    }
    let name = choice.get("name")?.as_str()?;
    let tool = body
        .get("tools")?
        .as_array()?
        .iter()
        .find(|t| t.get("name").and_then(Value::as_str) == Some(name))?;
    let schema = tool.get("input_schema").cloned().unwrap_or(Value::Null);
    Some((name.to_string(), schema))
}

/// An Anthropic tool-use id (`toolu_01` + 22 letters/digits).
pub fn tool_use_id() -> String {
    format!("toolu_01{}", reply::random_alnum(22))
}

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCall => "tool_use",
        Finish::ContentFilter => "refusal",
    }
}

fn usage(input: u32, output: u32) -> Value {
    json!({"input_tokens": input, "output_tokens": output, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
}

/// The non-streamed `message` body.
pub fn body(accepted: &Accepted, reply: &Reply) -> Value {
    let mut content = Vec::new();
    if !reply.pieces.is_empty() {
        content.push(json!({"type": "text", "text": reply.joined()}));
    }
    if let Some(tool) = &reply.tool {
        content.push(
            json!({"type": "tool_use", "id": tool.id, "name": tool.name, "input": tool.arguments}),
        );
    }
    json!({
        "id": format!("msg_01{}", reply::random_alnum(22)),
        "type": "message",
        "role": "assistant",
        "model": accepted.response_model,
        "content": content,
        "stop_reason": stop_reason(reply.finish),
        "stop_sequence": null,
        "usage": usage(reply.prompt_tokens, reply.completion_tokens)
    })
}

/// The named-event stream: `message_start` … `message_stop`, with a `ping`.
pub fn framed(accepted: &Accepted, reply: &Reply) -> Framed {
    let start = json!({"type": "message_start", "message": {
        "id": format!("msg_01{}", reply::random_alnum(22)), "type": "message", "role": "assistant",
        "model": accepted.response_model, "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": usage(reply.prompt_tokens, 1)}});
    let mut events = vec![
        event("message_start", &start),
        event("ping", &json!({"type": "ping"})),
    ];
    let mut index = 0;
    if !reply.pieces.is_empty() {
        events.push(event("content_block_start", &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
        for piece in &reply.pieces {
            events.push(text_delta_event(index, piece));
        }
        events.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    if let Some(tool) = &reply.tool {
        events.push(event("content_block_start", &json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}}})));
        for fragment in reply::fragments(&tool.arguments.to_string(), 3) {
            events.push(event("content_block_delta", &json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": fragment}})));
        }
        events.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    let delta = json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(reply.finish), "stop_sequence": null}, "usage": {"output_tokens": reply.completion_tokens}});
    events.push(event("message_delta", &delta));
    events.push(event("message_stop", &json!({"type": "message_stop"})));
    let error =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    Framed {
        events,
        error_event: event("error", &error),
        content_type: "text/event-stream",
    }
}

/// A `text_delta` event with its keys in the order Anthropic writes them (a `Value`
/// would sort them), so streams through the simulator meet the gateway's fast path for
/// them as streams from Anthropic do.
fn text_delta_event(index: usize, text: &str) -> bytes::Bytes {
    let text = Value::from(text);
    bytes::Bytes::from(format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"text_delta\",\"text\":{text}}}}}\n\n"
    ))
}

fn event(name: &str, data: &Value) -> bytes::Bytes {
    bytes::Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}
