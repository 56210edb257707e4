//! Anthropic's structural checks below the top level: `system`, `messages` and their content
//! blocks, `tool_use`/`tool_result` pairing, `tools` and `tool_choice`.
//!
//! Messages follow the API's pydantic wording (`messages.1.content.0.foo: Extra inputs are not
//! permitted`). Models, auth and ranges are checked in `anthropic.rs`.

use serde_json::Value;

use super::errors::Rejection;

const BLOCK_TAGS: &str =
    "'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'";

fn invalid(message: &str) -> Rejection {
    Rejection::anthropic_invalid(message)
}

fn extra(location: &str) -> Rejection {
    invalid(&format!("{location}: Extra inputs are not permitted"))
}

fn check_fields(value: &Value, allowed: &[&str], location: &str) -> Result<(), Rejection> {
    let keys = value.as_object().map(|m| m.keys()).into_iter().flatten();
    match keys.into_iter().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(extra(&format!("{location}.{key}"))),
        None => Ok(()),
    }
}

/// `system`: a string or a list of text blocks.
pub fn check_system(system: &Value) -> Result<(), Rejection> {
    match system {
        Value::String(_) => Ok(()),
        Value::Array(blocks) => blocks.iter().enumerate().try_for_each(|(i, block)| {
            if block.get("type").and_then(Value::as_str) != Some("text") {
                return Err(invalid(&format!("system.{i}.type: Input should be 'text'")));
            }
            check_fields(
                block,
                &["type", "text", "cache_control", "citations"],
                &format!("system.{i}"),
            )
        }),
        _ => Err(invalid(
            "system: Input should be a valid string or list of text blocks",
        )),
    }
}

/// `messages`: roles, turn order, content and tool pairing. Returns the list.
pub fn check_messages(messages: &Value) -> Result<&Vec<Value>, Rejection> {
    let Value::Array(list) = messages else {
        return Err(invalid("messages: Input should be a valid list"));
    };
    if list.is_empty() {
        return Err(invalid("messages: at least one message is required"));
    }
    let mut previous_role = "";
    let mut open_tool_uses: Vec<String> = Vec::new();
    for (i, message) in list.iter().enumerate() {
        let role = check_role(i, message)?;
        if i == 0 && role != "user" {
            return Err(invalid(
                "messages: first message must use the \"user\" role",
            ));
        }
        if role == previous_role {
            return Err(invalid(&format!("messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{role}\" roles in a row")));
        }
        let is_last = i + 1 == list.len();
        let blocks = check_content(i, message, role, is_last)?;
        check_pairing(i, role, &blocks, &mut open_tool_uses)?;
        previous_role = role;
    }
    if !open_tool_uses.is_empty() {
        return Err(unanswered(list.len() - 1, &open_tool_uses));
    }
    Ok(list)
}

fn check_role(i: usize, message: &Value) -> Result<&str, Rejection> {
    check_fields(message, &["role", "content"], &format!("messages.{i}"))?;
    match message.get("role").and_then(Value::as_str) {
        Some(role @ ("user" | "assistant")) => Ok(role),
        Some("system") => Err(invalid(&format!("messages.{i}.role: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role."))),
        Some(_) => Err(invalid(&format!("messages.{i}.role: Input should be 'user' or 'assistant'"))),
        None => Err(invalid(&format!("messages.{i}.role: Field required"))),
    }
}

/// Checks one message's content; returns its blocks (a string becomes one text block).
fn check_content(
    i: usize,
    message: &Value,
    role: &str,
    is_last: bool,
) -> Result<Vec<Value>, Rejection> {
    let prefill = is_last && role == "assistant";
    let blocks = match message.get("content") {
        None => return Err(invalid(&format!("messages.{i}.content: Field required"))),
        Some(Value::String(text)) => {
            if prefill && text.ends_with(char::is_whitespace) {
                return Err(invalid(
                    "messages: final assistant content cannot end with trailing whitespace",
                ));
            }
            if text.is_empty() && !prefill {
                return Err(invalid(&format!("messages.{i}: all messages must have non-empty content except for the optional final assistant message")));
            }
            return Ok(Vec::new());
        }
        Some(Value::Array(blocks)) => blocks,
        Some(_) => {
            return Err(invalid(&format!(
                "messages.{i}.content: Input should be a valid string or list of content blocks"
            )))
        }
    };
    if blocks.is_empty() && !prefill {
        return Err(invalid(&format!("messages.{i}: all messages must have non-empty content except for the optional final assistant message")));
    }
    for (j, block) in blocks.iter().enumerate() {
        check_block(&format!("messages.{i}.content.{j}"), block, role)?;
    }
    Ok(blocks.clone())
}

fn check_block(location: &str, block: &Value, role: &str) -> Result<(), Rejection> {
    let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
    let allowed: &[&str] = match kind {
        "text" => &["type", "text", "cache_control", "citations"],
        "image" => &["type", "source", "cache_control"],
        "document" => &["type", "source", "title", "context", "citations", "cache_control"],
        "tool_use" => &["type", "id", "name", "input", "cache_control"],
        "tool_result" => &["type", "tool_use_id", "content", "is_error", "cache_control"],
        "thinking" => &["type", "thinking", "signature"],
        "redacted_thinking" => &["type", "data"],
        _ => return Err(invalid(&format!("{location}: Input tag '{kind}' found using 'type' does not match any of the expected tags: {BLOCK_TAGS}"))),
    };
    check_fields(block, allowed, location)?;
    match kind {
        "text"
            if block
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty() =>
        {
            Err(invalid("messages: text content blocks must be non-empty"))
        }
        "image" => check_image(location, block),
        "tool_use" if role != "assistant" => Err(invalid(&format!(
            "{location}: tool_use blocks can only appear in assistant messages"
        ))),
        "tool_use" if !block.get("input").is_some_and(Value::is_object) => Err(invalid(&format!(
            "{location}.tool_use.input: Input should be a valid dictionary"
        ))),
        "tool_use" if !block.get("id").is_some_and(Value::is_string) => {
            Err(invalid(&format!("{location}.tool_use.id: Field required")))
        }
        "tool_result" if role != "user" => Err(invalid(&format!(
            "{location}: tool_result blocks can only appear in user messages"
        ))),
        "tool_result" => check_tool_result(location, block),
        _ => Ok(()),
    }
}

fn check_image(location: &str, block: &Value) -> Result<(), Rejection> {
    let source = block.get("source").unwrap_or(&Value::Null);
    let allowed: &[&str] = match source.get("type").and_then(Value::as_str) {
        Some("base64") => &["type", "media_type", "data"],
        Some("url") => &["type", "url"],
        Some("file") => &["type", "file_id"],
        _ => return Err(invalid(&format!("{location}.image.source: Input tag found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'"))),
    };
    check_fields(source, allowed, &format!("{location}.image.source"))?;
    if source.get("type").and_then(Value::as_str) == Some("base64") {
        let media = source
            .get("media_type")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !["image/jpeg", "image/png", "image/gif", "image/webp"].contains(&media) {
            return Err(invalid(&format!("{location}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")));
        }
    }
    Ok(())
}

fn check_tool_result(location: &str, block: &Value) -> Result<(), Rejection> {
    if !block.get("tool_use_id").is_some_and(Value::is_string) {
        return Err(invalid(&format!(
            "{location}.tool_result.tool_use_id: Field required"
        )));
    }
    match block.get("content") {
        None | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(items)) => items.iter().enumerate().try_for_each(|(k, item)| {
            match item.get("type").and_then(Value::as_str) {
                Some("text" | "image" | "document" | "search_result") => check_block(&format!("{location}.content.{k}"), item, "user"),
                _ => Err(invalid(&format!("{location}.content.{k}: Input tag found using 'type' does not match any of the expected tags: 'text', 'image', 'search_result', 'document'"))),
            }
        }),
        Some(_) => Err(invalid(&format!("{location}.tool_result.content: Input should be a valid string or list"))),
    }
}

fn check_pairing(
    i: usize,
    role: &str,
    blocks: &[Value],
    open: &mut Vec<String>,
) -> Result<(), Rejection> {
    let of_type = |kind: &'static str, key: &'static str| {
        blocks
            .iter()
            .filter(move |b| b.get("type").and_then(Value::as_str) == Some(kind))
            .map(move |b| b.get(key).and_then(Value::as_str).unwrap_or("").to_string())
    };
    if role == "user" {
        for (j, id) in of_type("tool_result", "tool_use_id").enumerate() {
            let Some(pos) = open.iter().position(|o| *o == id) else {
                return Err(invalid(&format!("messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")));
            };
            open.remove(pos);
        }
    }
    if !open.is_empty() {
        return Err(unanswered(i.saturating_sub(1), open));
    }
    if role == "assistant" {
        open.extend(of_type("tool_use", "id"));
    }
    Ok(())
}

fn unanswered(i: usize, ids: &[String]) -> Rejection {
    invalid(&format!("messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", ids.join(", ")))
}

/// `tools`: custom tools need `name` and an object `input_schema`, nothing else.
pub fn check_tools(tools: Option<&Value>) -> Result<(), Rejection> {
    let Some(tools) = tools else { return Ok(()) };
    let Value::Array(list) = tools else {
        return Err(invalid("tools: Input should be a valid list"));
    };
    for (i, tool) in list.iter().enumerate() {
        if tool
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "custom")
        {
            continue; // server tools (web_search, bash …) have their own shapes
        }
        check_fields(
            tool,
            &[
                "type",
                "name",
                "description",
                "input_schema",
                "cache_control",
            ],
            &format!("tools.{i}"),
        )?;
        let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
        let valid = (1..=128).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(invalid(&format!(
                "tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
            )));
        }
        if !tool.get("input_schema").is_some_and(Value::is_object) {
            return Err(invalid(&format!(
                "tools.{i}.custom.input_schema: Field required"
            )));
        }
    }
    Ok(())
}

/// `tool_choice`: an object tagged `auto`, `any`, `tool` (with `name`) or `none`.
pub fn check_tool_choice(choice: Option<&Value>) -> Result<(), Rejection> {
    let Some(choice) = choice else { return Ok(()) };
    if !choice.is_object() {
        return Err(invalid(
            "tool_choice: Input should be a valid dictionary or object to extract fields from",
        ));
    }
    let allowed: &[&str] = match choice.get("type").and_then(Value::as_str) {
        Some("auto" | "any") => &["type", "disable_parallel_tool_use"],
        Some("none") => &["type"],
        Some("tool") if choice.get("name").is_some_and(Value::is_string) => &["type", "name", "disable_parallel_tool_use"],
        Some("tool") => return Err(invalid("tool_choice.tool.name: Field required")),
        _ => return Err(invalid("tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")),
    };
    check_fields(choice, allowed, "tool_choice")
}
