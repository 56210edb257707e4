//! OpenAI Responses ⇄ the canonical chat model, for providers that do not speak
//! Responses (PROVIDERS §10.7, LiteLLM's bridge): input items become chat messages
//! (consecutive function calls one assistant turn), client-run tools become functions
//! (a `namespace` flattened, a `custom` tool a function with one string `content`
//! parameter, its calls turned back into `custom_tool_call`s), hosted tools only OpenAI
//! runs are dropped and named; the answer becomes a response object.

use serde_json::{json, Map, Value};

use crate::error::AppError;
use crate::proxy::types::ChatResponse;
use crate::proxy::ChatRequest;

/// The request as a canonical chat request, and what the translation had to know.
pub struct Translated {
    pub chat: ChatRequest,
    /// Names of `custom` tools: their calls go back as `custom_tool_call`s.
    pub custom_tools: Vec<String>,
    /// Hosted tools that were left out (named in the log row).
    pub dropped_tools: Vec<String>,
}

fn invalid(message: impl Into<String>, param: &str) -> AppError {
    AppError::invalid(message, Some(param))
}

/// Text of a content value: a string, or the text of its parts.
fn parts(content: &Value, at: &str) -> Result<Value, AppError> {
    match content {
        Value::String(s) => Ok(Value::String(s.clone())),
        Value::Array(items) => {
            let mut out = Vec::new();
            for p in items {
                match p.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text" | "text") => {
                        out.push(json!({"type": "text", "text": p.get("text").and_then(Value::as_str).unwrap_or_default()}))
                    }
                    Some("input_image") => {
                        let url = p.get("image_url").and_then(Value::as_str).ok_or_else(|| invalid(format!("{at}: input_image needs an image_url"), "input"))?;
                        out.push(json!({"type": "image_url", "image_url": {"url": url}}));
                    }
                    Some("refusal") => out.push(json!({"type": "text", "text": p.get("refusal").and_then(Value::as_str).unwrap_or_default()})),
                    Some(other) => return Err(invalid(format!("{at}: content part type `{other}` cannot be sent to this model's provider"), "input")),
                    None => return Err(invalid(format!("{at}: a content part needs a type"), "input")),
                }
            }
            Ok(Value::Array(out))
        }
        Value::Null => Ok(Value::String(String::new())),
        _ => Err(invalid(
            format!("{at}: content must be a string or a list of parts"),
            "input",
        )),
    }
}

fn flat_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The input items as chat messages.
fn messages(body: &Map<String, Value>) -> Result<Vec<Value>, AppError> {
    let mut out = Vec::new();
    if let Some(i) = body.get("instructions").and_then(Value::as_str) {
        out.push(json!({"role": "system", "content": i}));
    }
    let items = match body.get("input") {
        Some(Value::String(s)) => {
            return Ok({
                out.push(json!({"role": "user", "content": s}));
                out
            })
        }
        Some(Value::Array(items)) => items,
        _ => {
            return Err(invalid(
                "input: must be a string or a list of items",
                "input",
            ))
        }
    };
    let mut calls: Vec<Value> = Vec::new();
    let flush = |calls: &mut Vec<Value>, out: &mut Vec<Value>| {
        if !calls.is_empty() {
            out.push(
                json!({"role": "assistant", "content": null, "tool_calls": std::mem::take(calls)}),
            );
        }
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        let kind =
            item.get("type")
                .and_then(Value::as_str)
                .unwrap_or(if item.get("role").is_some() {
                    "message"
                } else {
                    ""
                });
        match kind {
            "message" => {
                flush(&mut calls, &mut out);
                let role = match item.get("role").and_then(Value::as_str) {
                    Some("developer" | "system") => "system",
                    Some("user") => "user",
                    Some("assistant") => "assistant",
                    _ => {
                        return Err(invalid(
                            format!("{at}: role must be user, assistant, system or developer"),
                            "input",
                        ))
                    }
                };
                let content = parts(item.get("content").unwrap_or(&Value::Null), &at)?;
                let content = if role == "user" {
                    content
                } else {
                    Value::String(flat_text(&content))
                };
                out.push(json!({"role": role, "content": content}));
            }
            "function_call" | "custom_tool_call" => {
                let call_id = item
                    .get("call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{at}: call_id is required"), "input"))?;
                let name = item
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{at}: name is required"), "input"))?;
                let arguments = if kind == "custom_tool_call" {
                    json!({"content": item.get("input").and_then(Value::as_str).unwrap_or_default()}).to_string()
                } else {
                    item.get("arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}")
                        .to_string()
                };
                calls.push(json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}));
            }
            "function_call_output" | "custom_tool_call_output" => {
                flush(&mut calls, &mut out);
                let call_id = item
                    .get("call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if call_id.is_empty() {
                    continue;
                }
                out.push(json!({"role": "tool", "tool_call_id": call_id, "content": flat_text(item.get("output").unwrap_or(&Value::Null))}));
            }
            // Another provider cannot use OpenAI's reasoning (it is encrypted).
            "reasoning" => {}
            "" => return Err(invalid(format!("{at}: an item needs a type"), "input")),
            other => {
                return Err(invalid(
                    format!("{at}: item type `{other}` cannot be sent to this model's provider"),
                    "input",
                ))
            }
        }
    }
    flush(&mut calls, &mut out);
    Ok(out)
}

/// A function tool for the chat body.
fn function(name: &str, description: Option<&str>, parameters: Value) -> Value {
    let parameters = match parameters {
        Value::Object(m) if !m.is_empty() => Value::Object(m),
        _ => json!({"type": "object", "properties": {}}),
    };
    let mut f = json!({"name": name, "parameters": parameters});
    if let Some(d) = description {
        f["description"] = Value::String(d.to_string());
    }
    json!({"type": "function", "function": f})
}

fn tools(
    body: &Map<String, Value>,
    custom: &mut Vec<String>,
    dropped: &mut Vec<String>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut take = |t: &Value, out: &mut Vec<Value>| {
        let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
        let description = t.get("description").and_then(Value::as_str);
        match t.get("type").and_then(Value::as_str).unwrap_or_default() {
            "function" => out.push(function(
                name,
                description,
                t.get("parameters").cloned().unwrap_or(Value::Null),
            )),
            "custom" => {
                custom.push(name.to_string());
                let grammar = t
                    .get("format")
                    .and_then(|f| f.get("definition"))
                    .and_then(Value::as_str);
                let text = match (description, grammar) {
                    (Some(d), Some(g)) => {
                        format!("{d}\nThe `content` must follow this grammar:\n{g}")
                    }
                    (Some(d), None) => d.to_string(),
                    (None, Some(g)) => format!("The `content` must follow this grammar:\n{g}"),
                    (None, None) => String::new(),
                };
                out.push(function(name, Some(&text).filter(|t| !t.is_empty()).map(String::as_str), json!({
                    "type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]})));
            }
            other => dropped.push(other.to_string()),
        }
    };
    for t in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if t.get("type").and_then(Value::as_str) == Some("namespace") {
            for inner in t
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                take(inner, &mut out);
            }
        } else {
            take(t, &mut out);
        }
    }
    out
}

/// The Responses body as a canonical chat request.
pub fn to_chat(body: &Map<String, Value>) -> Result<Translated, AppError> {
    let mut out = Map::new();
    out.insert(
        "model".into(),
        body.get("model").cloned().unwrap_or(Value::Null),
    );
    out.insert("messages".into(), Value::Array(messages(body)?));
    for (from, to) in [
        ("max_output_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
    ] {
        if let Some(v) = body.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    }
    if body.get("stream") == Some(&Value::Bool(true)) {
        out.insert("stream".into(), Value::Bool(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let (mut custom, mut dropped) = (Vec::new(), Vec::new());
    let tools = tools(body, &mut custom, &mut dropped);
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        let choice = match body.get("tool_choice") {
            Some(Value::String(s)) if matches!(s.as_str(), "auto" | "none" | "required") => {
                Some(Value::String(s.clone()))
            }
            Some(Value::Object(c)) => c
                .get("name")
                .map(|n| json!({"type": "function", "function": {"name": n}})),
            _ => None,
        };
        if let Some(c) = choice {
            out.insert("tool_choice".into(), c);
        }
    }
    let bytes =
        serde_json::to_vec(&Value::Object(out)).map_err(|e| AppError::Internal(e.to_string()))?;
    let chat = ChatRequest::parse(&bytes).map_err(|e| AppError::InvalidRequest {
        message: e.message,
        param: e.param,
    })?;
    Ok(Translated {
        chat,
        custom_tools: custom,
        dropped_tools: dropped,
    })
}

/// Usage in the Responses shape (both details objects, as Codex requires).
pub fn usage_json(prompt: u64, cached: u64, completion: u64) -> Value {
    json!({"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached},
           "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
           "total_tokens": prompt + completion})
}

/// One output item for a tool call: `custom_tool_call` for a custom tool's name.
pub fn call_item(call_id: &str, name: &str, arguments: &str, custom: &[String]) -> Value {
    let id = format!("fc_{}", call_id.trim_start_matches("call_"));
    if custom.iter().any(|c| c == name) {
        let input = serde_json::from_str::<Value>(arguments)
            .ok()
            .and_then(|v| v.get("content").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        json!({"type": "custom_tool_call", "id": id, "call_id": call_id, "name": name, "input": input, "status": "completed"})
    } else {
        json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments, "status": "completed"})
    }
}

/// The response object around `output`.
pub fn response_object(
    id: &str,
    model: &str,
    status: &str,
    output: Vec<Value>,
    usage: Option<Value>,
) -> Value {
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    json!({"id": id, "object": "response", "created_at": crate::proxy::http::unix_now(), "status": status,
           "model": model, "output": output, "usage": usage, "error": null, "incomplete_details": incomplete,
           "parallel_tool_calls": true, "tool_choice": "auto", "tools": []})
}

/// A canonical answer as a response object.
pub fn response_from_chat(resp: &ChatResponse, model: &str, custom: &[String]) -> Value {
    let chat = resp.to_openai_json();
    let choice = &chat["choices"][0];
    let mut output = Vec::new();
    if let Some(text) = choice["message"]["content"]
        .as_str()
        .filter(|t| !t.is_empty())
    {
        output.push(json!({"type": "message", "id": crate::proxy::http::mint_id("msg_"), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}));
    }
    for call in choice["message"]["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
    {
        output.push(call_item(
            call["id"].as_str().unwrap_or_default(),
            call["function"]["name"].as_str().unwrap_or_default(),
            call["function"]["arguments"].as_str().unwrap_or("{}"),
            custom,
        ));
    }
    let status = if choice["finish_reason"] == "length" {
        "incomplete"
    } else {
        "completed"
    };
    let u = resp.usage;
    response_object(
        &crate::proxy::http::mint_id("resp_"),
        model,
        status,
        output,
        Some(usage_json(
            u.prompt_tokens,
            u.cached_tokens,
            u.completion_tokens,
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_items_and_tools_become_chat_messages_and_functions() {
        let body = json!({
            "model": "m", "instructions": "Be terse.", "max_output_tokens": 50,
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are a coding agent"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
                {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
                {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch"},
                {"type": "function_call_output", "call_id": "call_1", "output": "a.rs"},
                {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Done"}
            ],
            "tools": [{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
                      {"type": "namespace", "name": "multi_agent_v1", "tools": [{"type": "function", "name": "spawn_agent", "parameters": {}}]},
                      {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
                      {"type": "web_search", "external_web_access": false}]
        });
        let t = to_chat(body.as_object().unwrap()).unwrap();
        assert_eq!(t.custom_tools, ["apply_patch"]);
        assert_eq!(t.dropped_tools, ["web_search"]);
        assert_eq!(t.chat.tools.len(), 3);
        assert_eq!(t.chat.max_tokens, Some(50));
        // system ×2, user, one assistant turn with both calls, two tool results.
        assert_eq!(t.chat.messages.len(), 6, "{:?}", t.chat.messages);
        let custom = call_item(
            "call_9",
            "apply_patch",
            "{\"content\":\"*** Begin Patch\"}",
            &t.custom_tools,
        );
        assert_eq!(custom["type"], "custom_tool_call");
        assert_eq!(custom["input"], "*** Begin Patch");
    }

    #[test]
    fn unknown_item_types_are_refused() {
        let body = json!({"model": "m", "input": [{"type": "telepathy"}]});
        assert!(to_chat(body.as_object().unwrap()).is_err());
    }
}
