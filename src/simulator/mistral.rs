//! Fake Mistral chat completions (`POST /mistral/v1/chat/completions`).
//!
//! OpenAI-like, with Mistral's own strictness (PROVIDERS.md §2, §3, §6, §7): pydantic 422 for
//! extra or missing fields (all of them listed), 9-character tool-call ids, last-message role
//! rules, and a stream whose last chunk carries `finish_reason` and `usage` together. No
//! content-filter finish exists here, so that fault answers normally.

use serde_json::{json, Map, Value};

use super::dispatch::Incoming;
use super::errors::Rejection;
use super::reply::{self, Accepted, Finish, Reply};
use super::stream::{self, Framed};
use super::tokens;

const FIELDS: &[&str] = &[
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "prediction",
    "parallel_tool_calls",
    "safe_prompt",
    "prompt_mode",
];

pub(super) const MODELS: &[&str] = &[
    "mistral-large-latest",
    "mistral-large-2411",
    "mistral-large-2407",
    "mistral-small-latest",
    "mistral-small-2503",
    "mistral-medium-latest",
    "open-mistral-nemo",
    "codestral-latest",
    "ministral-8b-latest",
];

/// Checks a request the way Mistral does.
pub fn accept(inc: &Incoming) -> Result<Accepted, Rejection> {
    if inc.bearer() != Some(inc.api_key) {
        return Err(Rejection::mistral_unauthorized());
    }
    let body = inc.body.and_then(Value::as_object).ok_or_else(|| {
        Rejection::mistral_unprocessable(vec![json!({"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}, "ctx": {"error": "Expecting value"}})])
    })?;
    let problems = pydantic_problems(body);
    if !problems.is_empty() {
        return Err(Rejection::mistral_unprocessable(problems));
    }
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if !MODELS.contains(&model) {
        return Err(Rejection::mistral(
            400,
            &format!("Invalid model: {model}"),
            "invalid_model",
            Some("1500"),
        ));
    }
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    check_tool_ids(messages)?;
    check_order(messages)?;
    let mut texts: Vec<String> = messages.iter().map(tokens::collect_text).collect();
    texts.extend(body.get("tools").map(Value::to_string));
    Ok(Accepted {
        model: model.to_string(),
        response_model: model.to_string(),
        stream: body.get("stream") == Some(&Value::Bool(true)),
        include_usage: false,
        sse: true,
        max_tokens: body
            .get("max_tokens")
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        prompt_tokens: tokens::prompt_tokens(texts.iter().map(String::as_str)),
        user_text: tokens::last_user_text(messages),
        logprobs: None,
        forced_tool: None,
    })
}

fn problem(kind: &str, loc: Value, msg: &str, input: &Value) -> Value {
    json!({"type": kind, "loc": loc, "msg": msg, "input": input})
}

/// Every pydantic validation error of the body (extra and missing fields, role tags).
fn pydantic_problems(body: &Map<String, Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for (key, value) in body.iter().filter(|(k, _)| !FIELDS.contains(&k.as_str())) {
        out.push(problem(
            "extra_forbidden",
            json!(["body", key]),
            "Extra inputs are not permitted",
            value,
        ));
    }
    for field in ["model", "messages"] {
        if !body.contains_key(field) {
            out.push(problem(
                "missing",
                json!(["body", field]),
                "Field required",
                &Value::Null,
            ));
        }
    }
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for (i, message) in messages.enumerate() {
        message_problems(i, message, &mut out);
    }
    if let Some(max) = body.get("max_tokens") {
        if !max.is_u64() {
            out.push(problem(
                "greater_than_equal",
                json!(["body", "max_tokens"]),
                "Input should be greater than or equal to 0",
                max,
            ));
        }
    }
    out
}

fn message_problems(i: usize, message: &Value, out: &mut Vec<Value>) {
    let role = message.get("role").and_then(Value::as_str).unwrap_or("");
    let allowed: &[&str] = match role {
        "system" | "user" => &["role", "content"],
        "assistant" => &["role", "content", "tool_calls", "prefix"],
        "tool" => &["role", "content", "tool_call_id", "name"],
        _ => {
            let msg = format!("Input tag '{role}' found using 'role' does not match any of the expected tags: 'assistant', 'system', 'tool', 'user'");
            out.push(problem(
                "union_tag_invalid",
                json!(["body", "messages", i]),
                &msg,
                message,
            ));
            return;
        }
    };
    let fields = message.as_object().into_iter().flatten();
    for (key, value) in fields.filter(|(k, _)| !allowed.contains(&k.as_str())) {
        out.push(problem(
            "extra_forbidden",
            json!(["body", "messages", i, role, key]),
            "Extra inputs are not permitted",
            value,
        ));
    }
    if role != "assistant" && message.get("content").is_none() {
        out.push(problem(
            "missing",
            json!(["body", "messages", i, role, "content"]),
            "Field required",
            message,
        ));
    }
}

fn is_valid_id(id: &str) -> bool {
    id.len() == 9 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn check_tool_ids(messages: &[Value]) -> Result<(), Rejection> {
    let call_ids = messages
        .iter()
        .filter_map(|m| m.get("tool_calls").and_then(Value::as_array))
        .flatten()
        .map(|call| call.get("id").and_then(Value::as_str).unwrap_or(""));
    let answer_ids = messages
        .iter()
        .filter_map(|m| m.get("tool_call_id").and_then(Value::as_str));
    match call_ids.chain(answer_ids).find(|id| !is_valid_id(id)) {
        Some(id) => {
            let message =
                format!("Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9.");
            Err(Rejection::mistral(
                400,
                &message,
                "invalid_function_call",
                Some("3280"),
            ))
        }
        None => Ok(()),
    }
}

fn check_order(messages: &[Value]) -> Result<(), Rejection> {
    let order = |message: &str| {
        Rejection::mistral(400, message, "invalid_request_message_order", Some("3230"))
    };
    let role = |m: &Value| {
        m.get("role")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut open_calls = 0usize;
    let mut previous = String::new();
    for message in messages {
        let current = role(message);
        if current == "tool" {
            if previous != "assistant" && previous != "tool" {
                return Err(order(&format!(
                    "Unexpected role 'tool' after role '{previous}'"
                )));
            }
            open_calls = open_calls.saturating_sub(1);
        } else if open_calls > 0 {
            return Err(order("Not the same number of function calls and responses"));
        }
        open_calls += message
            .get("tool_calls")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        previous = current;
    }
    let last = messages.last().map(role).unwrap_or_default();
    let prefix = messages.last().and_then(|m| m.get("prefix")) == Some(&Value::Bool(true));
    if last == "user" || last == "tool" || (last == "assistant" && prefix) {
        Ok(())
    } else {
        Err(order(&format!("Expected last role User or Tool (or Assistant with prefix True) for serving but got {last}")))
    }
}

/// A Mistral tool-call id: exactly nine letters and digits.
pub fn tool_call_id() -> String {
    reply::random_alnum(9)
}

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop | Finish::ContentFilter => "stop",
        Finish::Length => "length",
        Finish::ToolCall => "tool_calls",
    }
}

fn usage(reply: &Reply) -> Value {
    json!({"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens, "total_tokens": reply.total_tokens()})
}

fn tool_calls(reply: &Reply) -> Value {
    reply.tool.as_ref().map_or(Value::Null, |tool| {
        json!([{"id": tool.id, "type": "function", "function": {"name": tool.name, "arguments": tool.arguments.to_string()}, "index": 0}])
    })
}

fn response_id() -> String {
    reply::random_alnum(32).to_ascii_lowercase()
}

/// The non-streamed `chat.completion` body.
pub fn body(accepted: &Accepted, reply: &Reply) -> Value {
    json!({
        "id": response_id(),
        "object": "chat.completion",
        "created": reply::now_unix(),
        "model": accepted.response_model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.joined(), "tool_calls": tool_calls(reply)}, "finish_reason": finish_reason(reply.finish)}],
        "usage": usage(reply)
    })
}

/// The chunk stream: role chunk, content chunks, a last chunk with the final delta,
/// `finish_reason` and `usage`, then `data: [DONE]`.
pub fn framed(accepted: &Accepted, reply: &Reply) -> Framed {
    let id = response_id();
    let created = reply::now_unix();
    let chunk = |delta: Value, finish: Value, usage: Option<Value>| {
        let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": accepted.response_model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if let Some(usage) = usage {
            c["usage"] = usage;
        }
        stream::data_event(&c)
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
        None,
    )];
    let (last_piece, earlier) = match reply.pieces.split_last() {
        Some((last, earlier)) if reply.tool.is_none() => (last.clone(), earlier),
        _ => (String::new(), reply.pieces.as_slice()),
    };
    events.extend(
        earlier
            .iter()
            .map(|p| chunk(json!({"content": p}), Value::Null, None)),
    );
    let final_delta = if reply.tool.is_some() {
        json!({"tool_calls": tool_calls(reply)})
    } else {
        json!({"content": last_piece})
    };
    events.push(chunk(
        final_delta,
        json!(finish_reason(reply.finish)),
        Some(usage(reply)),
    ));
    events.push(stream::done_event());
    let mut error = chunk(json!({"content": ""}), json!("error"), Some(usage(reply))).to_vec();
    error.extend_from_slice(&stream::done_event());
    Framed {
        events,
        error_event: error.into(),
        content_type: "text/event-stream",
    }
}
