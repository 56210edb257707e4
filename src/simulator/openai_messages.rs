//! OpenAI message checks: roles, per-role fields, content parts, and that every assistant
//! `tool_calls` entry is answered by a `tool` message (and no `tool` message answers nothing).
//! The top level (auth, allowlist, model, ranges) is checked in `openai.rs`.

use serde_json::{Map, Value};

use super::errors::Rejection;

const ROLES: &str = "'system', 'assistant', 'user', 'function', 'tool', and 'developer'";

/// Checks `messages` and returns it.
pub fn check_messages(body: &Map<String, Value>) -> Result<&Vec<Value>, Rejection> {
    let messages = match body.get("messages") {
        None => {
            let message = "Missing required parameter: 'messages'.";
            return Err(Rejection::openai_invalid(
                message,
                Some("messages"),
                Some("missing_required_parameter"),
            ));
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => {
            let message = "Invalid type for 'messages': expected an array of objects.";
            return Err(Rejection::openai_invalid(
                message,
                Some("messages"),
                Some("invalid_type"),
            ));
        }
    };
    if messages.is_empty() {
        let message = "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.";
        return Err(Rejection::openai_invalid(
            message,
            Some("messages"),
            Some("empty_array"),
        ));
    }
    let mut pending: Vec<String> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = check_message(i, message)?;
        check_pairing(i, role, message, &mut pending)?;
    }
    if !pending.is_empty() {
        return Err(unanswered(messages.len(), &pending));
    }
    Ok(messages)
}

fn check_message(i: usize, message: &Value) -> Result<&str, Rejection> {
    let role = message.get("role").and_then(Value::as_str).unwrap_or("");
    let allowed: &[&str] = match role {
        "system" | "developer" | "user" => &["role", "content", "name"],
        "assistant" => &[
            "role",
            "content",
            "name",
            "tool_calls",
            "function_call",
            "refusal",
            "audio",
        ],
        "tool" => &["role", "content", "tool_call_id"],
        "function" => &["role", "content", "name"],
        _ => {
            let message = format!("Invalid value: '{role}'. Supported values are: {ROLES}.");
            let param = format!("messages[{i}].role");
            return Err(Rejection::openai_invalid(
                &message,
                Some(&param),
                Some("invalid_value"),
            ));
        }
    };
    let fields = message.as_object().map(|m| m.keys()).into_iter().flatten();
    if let Some(extra) = fields.into_iter().find(|k| !allowed.contains(&k.as_str())) {
        let message = format!(
            "Additional properties are not allowed ('{extra}' was unexpected) - 'messages.{i}'"
        );
        return Err(Rejection::openai_invalid(&message, None, None));
    }
    let content = message.get("content").filter(|c| !c.is_null());
    let needs_content = role != "assistant" || message.get("tool_calls").is_none();
    if content.is_none() && needs_content {
        let message = format!("Missing required parameter: 'messages[{i}].content'.");
        let param = format!("messages[{i}].content");
        return Err(Rejection::openai_invalid(
            &message,
            Some(&param),
            Some("missing_required_parameter"),
        ));
    }
    if let Some(Value::Array(parts)) = content {
        check_parts(i, parts)?;
    }
    Ok(role)
}

fn check_parts(i: usize, parts: &[Value]) -> Result<(), Rejection> {
    const TYPES: &[&str] = &[
        "text",
        "image_url",
        "input_audio",
        "refusal",
        "audio",
        "file",
    ];
    for (j, part) in parts.iter().enumerate() {
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        if !TYPES.contains(&kind) {
            let message = format!("Invalid value: '{kind}'. Supported values are: 'text', 'image_url', 'input_audio', 'refusal', 'audio', and 'file'.");
            let param = format!("messages[{i}].content[{j}].type");
            return Err(Rejection::openai_invalid(
                &message,
                Some(&param),
                Some("invalid_value"),
            ));
        }
    }
    Ok(())
}

fn check_pairing(
    i: usize,
    role: &str,
    message: &Value,
    pending: &mut Vec<String>,
) -> Result<(), Rejection> {
    if role == "tool" {
        let id = message
            .get("tool_call_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(pos) = pending.iter().position(|p| p == id) else {
            let message = "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.";
            let param = format!("messages.[{i}].role");
            return Err(Rejection::openai_invalid(message, Some(&param), None));
        };
        pending.remove(pos);
        return Ok(());
    }
    if !pending.is_empty() {
        return Err(unanswered(i, pending));
    }
    for (j, call) in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let function = call.get("function");
        if !function
            .and_then(|f| f.get("arguments"))
            .is_some_and(Value::is_string)
        {
            let message = format!("Invalid type for 'messages[{i}].tool_calls[{j}].function.arguments': expected a string.");
            let param = format!("messages[{i}].tool_calls[{j}].function.arguments");
            return Err(Rejection::openai_invalid(
                &message,
                Some(&param),
                Some("invalid_type"),
            ));
        }
        pending.push(
            call.get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        );
    }
    Ok(())
}

fn unanswered(i: usize, pending: &[String]) -> Rejection {
    let message = format!("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}", pending.join(", "));
    let param = format!("messages.[{i}].role");
    Rejection::openai_invalid(&message, Some(&param), None)
}

/// `tools`: a list of `{"type": "function", "function": {"name", …}}`.
pub fn check_tools(tools: Option<&Value>) -> Result<(), Rejection> {
    let Some(tools) = tools else { return Ok(()) };
    let Some(list) = tools.as_array() else {
        let message = "Invalid type for 'tools': expected an array of objects.";
        return Err(Rejection::openai_invalid(
            message,
            Some("tools"),
            Some("invalid_type"),
        ));
    };
    for (i, tool) in list.iter().enumerate() {
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            let message = format!("Missing required parameter: 'tools[{i}].type'.");
            let param = format!("tools[{i}].type");
            return Err(Rejection::openai_invalid(
                &message,
                Some(&param),
                Some("missing_required_parameter"),
            ));
        }
        let name = tool.get("function").and_then(|f| f.get("name"));
        if !name.is_some_and(Value::is_string) {
            let message = format!("Missing required parameter: 'tools[{i}].function.name'.");
            let param = format!("tools[{i}].function.name");
            return Err(Rejection::openai_invalid(
                &message,
                Some(&param),
                Some("missing_required_parameter"),
            ));
        }
    }
    Ok(())
}
