//! Fake OpenAI Chat Completions (`POST /openai/v1/chat/completions`).
//!
//! Checks Bearer auth, the request allowlist, roles, tool-call pairing, model and ranges, and
//! answers in OpenAI's own shapes (PROVIDERS.md §1, §2, §4, §6, §7). It does not implement
//! `n > 1` or audio (the Responses API is `responses.rs`); `logprobs` are answered per token.

use serde_json::{json, Map, Value};

use super::dispatch::Incoming;
use super::errors::Rejection;
use super::openai_messages::{check_messages, check_tools};
use super::reply::{self, Accepted, Finish, Reply};
use super::stream::{self, Framed};
use super::{logprobs, tokens};

/// Top-level fields Chat Completions knows.
const FIELDS: &[&str] = &[
    "model",
    "messages",
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

/// Known models: (id, snapshot reported back, output cap).
pub(super) const MODELS: &[(&str, &str, u64)] = &[
    ("gpt-4o", "gpt-4o-2024-08-06", 16_384),
    ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06", 16_384),
    ("gpt-4o-2024-11-20", "gpt-4o-2024-11-20", 16_384),
    ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 16_384),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", 16_384),
    ("gpt-4.1", "gpt-4.1-2025-04-14", 32_768),
    ("gpt-4.1-2025-04-14", "gpt-4.1-2025-04-14", 32_768),
    ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", 32_768),
    ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini-2025-04-14", 32_768),
];

/// Checks a request the way OpenAI does.
pub fn accept(inc: &Incoming) -> Result<Accepted, Rejection> {
    check_auth(inc)?;
    let body = inc.body.and_then(Value::as_object).ok_or_else(unparsable)?;
    if let Some(field) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let message = format!("Unrecognized request argument supplied: {field}");
        return Err(Rejection::openai_invalid(&message, None, None));
    }
    let model = body.get("model").and_then(Value::as_str).ok_or_else(|| {
        Rejection::openai_invalid("you must provide a model parameter", None, None)
    })?;
    let messages = check_messages(body)?;
    check_tools(body.get("tools"))?;
    let (_, snapshot, cap) = MODELS
        .iter()
        .find(|(id, _, _)| *id == model)
        .ok_or_else(|| {
            let message =
                format!("The model `{model}` does not exist or you do not have access to it.");
            Rejection::openai(
                404,
                &message,
                "invalid_request_error",
                None,
                Some("model_not_found"),
            )
        })?;
    check_ranges(body, *cap)?;
    let stream = body.get("stream") == Some(&Value::Bool(true));
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        == Some(&Value::Bool(true));
    let mut texts: Vec<String> = messages.iter().map(tokens::collect_text).collect();
    texts.extend(body.get("tools").map(Value::to_string));
    Ok(Accepted {
        model: model.to_string(),
        response_model: (*snapshot).to_string(),
        stream,
        include_usage,
        sse: true,
        max_tokens: max_tokens(body),
        prompt_tokens: tokens::prompt_tokens(texts.iter().map(String::as_str)),
        user_text: tokens::last_user_text(messages),
        logprobs: logprobs(body),
        forced_tool: None,
    })
}

pub(super) fn check_auth(inc: &Incoming) -> Result<(), Rejection> {
    let Some(key) = inc.bearer() else {
        let message = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.";
        return Err(Rejection::openai(
            401,
            message,
            "invalid_request_error",
            None,
            None,
        ));
    };
    if key == inc.api_key {
        return Ok(());
    }
    let masked: String = key.chars().take(3).chain("*****".chars()).collect();
    let message = format!("Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys.");
    Err(Rejection::openai(
        401,
        &message,
        "invalid_request_error",
        None,
        Some("invalid_api_key"),
    ))
}

fn unparsable() -> Rejection {
    Rejection::openai_invalid("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", None, None)
}

fn check_ranges(body: &Map<String, Value>, cap: u64) -> Result<(), Rejection> {
    if let Some(t) = body.get("temperature").and_then(Value::as_f64) {
        if !(0.0..=2.0).contains(&t) {
            let (code, bound) = if t > 2.0 {
                ("decimal_above_max_value", "<= 2")
            } else {
                ("decimal_below_min_value", ">= 0")
            };
            let message = format!("Invalid 'temperature': decimal out of range. Expected a value {bound}, but got {t} instead.");
            return Err(Rejection::openai_invalid(
                &message,
                Some("temperature"),
                Some(code),
            ));
        }
    }
    for field in ["max_tokens", "max_completion_tokens"] {
        if let Some(n) = body.get(field).and_then(Value::as_u64) {
            if n > cap {
                let message = format!("{field} is too large: {n}. This model supports at most {cap} completion tokens, whereas you provided {n}.");
                return Err(Rejection::openai_invalid(
                    &message,
                    Some(field),
                    Some("invalid_value"),
                ));
            }
        }
    }
    if body.contains_key("stream_options") && body.get("stream") != Some(&Value::Bool(true)) {
        let message = "The 'stream_options' parameter is only allowed when 'stream' is enabled.";
        return Err(Rejection::openai_invalid(
            message,
            Some("stream_options"),
            None,
        ));
    }
    Ok(())
}

/// `logprobs: true`, with `top_logprobs` alternatives (default 0).
fn logprobs(body: &Map<String, Value>) -> Option<u32> {
    (body.get("logprobs") == Some(&Value::Bool(true))).then(|| {
        body.get("top_logprobs")
            .and_then(Value::as_u64)
            .map_or(0, |n| u32::try_from(n.min(20)).unwrap_or(20))
    })
}

fn max_tokens(body: &Map<String, Value>) -> Option<u32> {
    let n = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))?;
    n.as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// An OpenAI tool-call id (`call_` + 24 letters/digits).
pub fn tool_call_id() -> String {
    format!("call_{}", reply::random_alnum(24))
}

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolCall => "tool_calls",
        Finish::ContentFilter => "content_filter",
    }
}

fn usage(reply: &Reply) -> Value {
    json!({
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.total_tokens(),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    })
}

/// The non-streamed `chat.completion` body.
pub fn body(accepted: &Accepted, reply: &Reply) -> Value {
    let mut message =
        json!({"role": "assistant", "content": null, "refusal": null, "annotations": []});
    if !reply.pieces.is_empty() {
        message["content"] = Value::String(reply.joined());
    }
    if let Some(tool) = &reply.tool {
        message["tool_calls"] = json!([{"id": tool.id, "type": "function", "function": {"name": tool.name, "arguments": tool.arguments.to_string()}}]);
    }
    json!({
        "id": format!("chatcmpl-{}", reply::random_alnum(29)),
        "object": "chat.completion",
        "created": reply::now_unix(),
        "model": accepted.response_model,
        "choices": [{"index": 0, "message": message,
            "logprobs": accepted.logprobs.map(|top| logprobs::openai(&reply.pieces, top)),
            "finish_reason": finish_reason(reply.finish)}],
        "usage": usage(reply),
        "service_tier": "default",
        "system_fingerprint": "fp_simulated"
    })
}

/// The `chat.completion.chunk` stream, ending with `data: [DONE]`.
pub fn framed(accepted: &Accepted, reply: &Reply) -> Framed {
    let id = format!("chatcmpl-{}", reply::random_alnum(29));
    let created = reply::now_unix();
    let chunk = |choices: Value| {
        let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": accepted.response_model, "system_fingerprint": "fp_simulated", "choices": choices});
        if accepted.include_usage {
            c["usage"] = Value::Null;
        }
        stream::data_event(&c)
    };
    let delta = |d: Value| {
        chunk(json!([{"index": 0, "delta": d, "logprobs": null, "finish_reason": null}]))
    };
    let opening = if reply.tool.is_some() && reply.pieces.is_empty() {
        Value::Null
    } else {
        json!("")
    };
    let mut events = vec![delta(
        json!({"role": "assistant", "content": opening, "refusal": null}),
    )];
    events.extend(reply.pieces.iter().map(|p| {
        let logprobs = accepted
            .logprobs
            .map(|top| logprobs::openai(std::slice::from_ref(p), top));
        chunk(json!([{"index": 0, "delta": {"content": p}, "logprobs": logprobs, "finish_reason": null}]))
    }));
    if let Some(tool) = &reply.tool {
        let header = json!({"index": 0, "id": tool.id, "type": "function", "function": {"name": tool.name, "arguments": ""}});
        events.push(delta(json!({"tool_calls": [header]})));
        for fragment in reply::fragments(&tool.arguments.to_string(), 3) {
            events.push(delta(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}),
            ));
        }
    }
    events.push(chunk(json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish_reason(reply.finish)}])));
    if accepted.include_usage {
        let last = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": accepted.response_model, "system_fingerprint": "fp_simulated", "choices": [], "usage": usage(reply)});
        events.push(stream::data_event(&last));
    }
    events.push(stream::done_event());
    let error = json!({"error": {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error", "param": null, "code": null}});
    Framed {
        events,
        error_event: stream::data_event(&error),
        content_type: "text/event-stream",
    }
}
