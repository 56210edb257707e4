//! Anthropic Messages ⇄ the canonical chat model, for providers that do not speak
//! Messages (OpenAI, Gemini, Mistral, `openai_compatible`). The request is rewritten
//! as a Chat Completions body and read by the same parser as the chat door, so the
//! provider adapters see exactly what they see from a chat client; the answer is
//! rendered back as an Anthropic message (PROVIDERS §9.2, §9.3).
//!
//! Dropped, since no other provider can take them: thinking blocks and signatures,
//! `cache_control`, `metadata`, server tools (web search …), Claude Code's attribution
//! line in `system`. Refused (a clear 400) rather than dropped: PDF documents.

use serde_json::{json, Map, Value};

use crate::error::AppError;
use crate::proxy::types::ChatResponse;
use crate::proxy::ChatRequest;

/// The first system block Claude Code sends: attribution, not instructions.
const ATTRIBUTION: &str = "x-anthropic-billing-header:";

/// The Messages body as a canonical chat request.
pub fn to_chat(body: &Map<String, Value>) -> Result<ChatRequest, AppError> {
    let mut out = Map::new();
    out.insert(
        "model".into(),
        body.get("model").cloned().unwrap_or(Value::Null),
    );
    let mut messages = Vec::new();
    if let Some(system) = system_text(body.get("system"))? {
        messages.push(json!({"role": "system", "content": system}));
    }
    let turns = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages: Field required"))?;
    for (i, turn) in turns.iter().enumerate() {
        push_turn(turn, i, &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    for (from, to) in [
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("stop_sequences", "stop"),
    ] {
        if let Some(v) = body.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    }
    if body.get("stream") == Some(&Value::Bool(true)) {
        out.insert("stream".into(), Value::Bool(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let tools = client_tools(body.get("tools"));
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = tool_choice(body.get("tool_choice")) {
            out.insert("tool_choice".into(), choice);
        }
    }
    let bytes = serde_json::to_vec(&Value::Object(out))
        .map_err(|e| AppError::Internal(format!("could not translate the request: {e}")))?;
    ChatRequest::parse(&bytes).map_err(|e| AppError::InvalidRequest {
        message: e.message,
        param: e.param,
    })
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::invalid(message, None)
}

/// `system` as one text, Claude Code's attribution line left out.
fn system_text(system: Option<&Value>) -> Result<Option<String>, AppError> {
    let texts: Vec<String> = match system {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|b| {
                b.get("text")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| invalid("system: each block must be a text block"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("system: must be a string or a list of text blocks")),
    };
    let kept: Vec<String> = texts
        .into_iter()
        .filter(|t| !t.starts_with(ATTRIBUTION))
        .collect();
    Ok((!kept.is_empty()).then(|| kept.join("\n\n")))
}

/// One Messages turn as chat messages: a user turn's tool results become `tool`
/// messages (first, since they answer the previous assistant turn), an assistant
/// turn's `tool_use` blocks its `tool_calls`.
fn push_turn(turn: &Value, i: usize, out: &mut Vec<Value>) -> Result<(), AppError> {
    let at = |what: &str| invalid(format!("messages.{i}: {what}"));
    let role = turn
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| at("role: Field required"))?;
    if role != "user" && role != "assistant" {
        return Err(at("role: must be \"user\" or \"assistant\""));
    }
    let blocks = match turn.get("content") {
        Some(Value::String(text)) => {
            out.push(json!({"role": role, "content": text}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => return Err(at("content: must be a string or a list of content blocks")),
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or_default();
                parts.push(json!({"type": "text", "text": text}));
            }
            Some("image") if role == "user" => parts.push(image_part(block).ok_or_else(|| at("image: source must be base64 or url"))?),
            Some("document") => parts.push(document_part(block).ok_or_else(|| {
                at("document: only text documents can be sent to this model's provider (PDFs need an Anthropic deployment)")
            })?),
            Some("tool_use") if role == "assistant" => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": block.get("id").cloned().unwrap_or(Value::Null),
                    "type": "function",
                    "function": {"name": block.get("name").cloned().unwrap_or(Value::Null), "arguments": input.to_string()},
                }));
            }
            Some("tool_result") if role == "user" => {
                let id = block.get("tool_use_id").cloned().unwrap_or(Value::Null);
                let mut text = result_text(block.get("content"));
                if block.get("is_error") == Some(&Value::Bool(true)) {
                    text = format!("Error: {text}");
                }
                out.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
            }
            // Signatures and opaque blocks mean nothing to another provider.
            Some("thinking" | "redacted_thinking") => {}
            Some(other) => return Err(at(&format!("content block type `{other}` cannot be sent to this model's provider"))),
            None => return Err(at("content block: type: Field required")),
        }
    }
    if role == "assistant" {
        let text: String = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) }});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        out.push(message);
    } else if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

fn image_part(block: &Value) -> Option<Value> {
    let source = block.get("source")?;
    let url = match source.get("type").and_then(Value::as_str)? {
        "base64" => format!(
            "data:{};base64,{}",
            source.get("media_type")?.as_str()?,
            source.get("data")?.as_str()?
        ),
        "url" => source.get("url")?.as_str()?.to_string(),
        _ => return None,
    };
    Some(json!({"type": "image_url", "image_url": {"url": url}}))
}

fn document_part(block: &Value) -> Option<Value> {
    let source = block.get("source")?;
    (source.get("type").and_then(Value::as_str)? == "text").then(|| {
        json!({"type": "text", "text": source.get("data").and_then(Value::as_str).unwrap_or_default()})
    })
}

/// A tool result's content as text (its text blocks joined).
fn result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Client tools as functions; server tools (a dated `type` such as `web_search_…`)
/// only Anthropic runs, so they are left out.
fn client_tools(tools: Option<&Value>) -> Vec<Value> {
    let Some(Value::Array(tools)) = tools else {
        return Vec::new();
    };
    tools
        .iter()
        .filter(|t| t.get("type").and_then(Value::as_str).is_none_or(|k| k == "custom"))
        .filter_map(|t| {
            let mut function = json!({"name": t.get("name")?.as_str()?, "parameters": t.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"}))});
            if let Some(d) = t.get("description").and_then(Value::as_str) {
                function["description"] = Value::String(d.to_string());
            }
            Some(json!({"type": "function", "function": function}))
        })
        .collect()
}

fn tool_choice(choice: Option<&Value>) -> Option<Value> {
    let choice = choice?;
    Some(match choice.get("type").and_then(Value::as_str)? {
        "auto" => json!("auto"),
        "any" => json!("required"),
        "none" => json!("none"),
        "tool" => json!({"type": "function", "function": {"name": choice.get("name")?}}),
        _ => return None,
    })
}

/// `finish_reason` as Anthropic's `stop_reason`.
pub fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's usage from prompt, cached and completion tokens.
pub fn usage_json(prompt: u64, cached: u64, completion: u64) -> Value {
    json!({
        "input_tokens": prompt.saturating_sub(cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": completion,
    })
}

/// A canonical answer as an Anthropic message named `model`.
pub fn message_from_chat(resp: &ChatResponse, model: &str) -> Value {
    let chat = resp.to_openai_json();
    let choice = &chat["choices"][0];
    let mut content = Vec::new();
    if let Some(text) = choice["message"]["content"]
        .as_str()
        .filter(|t| !t.is_empty())
    {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in choice["message"]["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let args = call["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input}));
    }
    let id = chat["id"].as_str().unwrap_or_default();
    json!({
        "id": format!("msg_{}", id.trim_start_matches("chatcmpl-")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
        "stop_sequence": null,
        "usage": usage_json(resp.usage.prompt_tokens, resp.usage.cached_tokens, resp.usage.completion_tokens),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_of(body: Value) -> ChatRequest {
        to_chat(body.as_object().unwrap()).unwrap()
    }

    #[test]
    fn system_tools_and_tool_turns_become_chat_messages() {
        let req = chat_of(json!({
            "model": "m", "max_tokens": 100, "stop_sequences": ["END"],
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1"}, {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
                      {"type": "web_search_20250305", "name": "web_search"}],
            "tool_choice": {"type": "any"},
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [
                {"role": "user", "content": "list files"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "sig"}, {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a.txt"}]}, {"type": "text", "text": "and now?"}]}
            ]
        }));
        assert_eq!(req.max_tokens, Some(100));
        assert_eq!(req.tools.len(), 1, "the server tool is left out");
        assert_eq!(req.messages.len(), 5);
        let json = serde_json::to_string(
            &req.messages
                .iter()
                .map(|m| format!("{m:?}"))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(
            json.contains("Be brief.") && !json.contains("billing-header"),
            "{json}"
        );
        assert!(
            json.contains("toolu_1") && json.contains("a.txt") && json.contains("and now?"),
            "{json}"
        );
    }

    #[test]
    fn pdf_documents_are_refused_not_dropped() {
        let body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}]}]});
        let err = to_chat(body.as_object().unwrap()).unwrap_err();
        assert!(err.to_string().contains("PDF"), "{err}");
    }

    #[test]
    fn stop_reasons_map_to_anthropic_names() {
        assert_eq!(stop_reason("stop"), "end_turn");
        assert_eq!(stop_reason("length"), "max_tokens");
        assert_eq!(stop_reason("tool_calls"), "tool_use");
    }
}
