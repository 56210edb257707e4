//! Mistral chat-completions adapter (PROVIDERS.md §1-§7): OpenAI-shaped, with a stricter
//! request schema.
//!
//! The body never carries `stream_options`, `seed` (→ `random_seed`), `user`,
//! `max_completion_tokens` or `name` on user messages. Tool-call ids must be 9
//! alphanumerics: other ids are rewritten by a hash, so the same client id always maps to
//! the same Mistral id, and Mistral's own ids pass through unchanged both ways.
//! Responses and chunks are OpenAI-shaped and read by `openai.rs`.

use super::client::Client;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::http::{self, ErrorDetail};
use super::openai::{self, content_json, put, tool_call_json, wire_tool_choice, wire_tools};
use super::types::{ChatRequest, ChatResponse, Content, Message, Role};
use super::{ChunkStream, Provider, Upstream, UpstreamError};

/// Path under `api_base` (which includes `/v1`).
const PATH: &str = "/chat/completions";
/// Alphabet of Mistral tool-call ids.
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The Mistral adapter.
pub(crate) struct Mistral;

impl Provider for Mistral {
    async fn complete(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChatResponse, UpstreamError> {
        let resp = send(http, up, &to_wire(up, req, false)?).await?;
        openai::from_wire(resp.json().await?, req, &up.model_id, false)
    }

    async fn stream(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChunkStream, UpstreamError> {
        let resp = send(http, up, &to_wire(up, req, true)?).await?;
        // Mistral streams are OpenAI-shaped (usage on the last chunk).
        Ok(resp.events(openai::StreamState::new(&up.model_id)))
    }
}

async fn send(http: &Client, up: &Upstream, body: &Value) -> Result<http::Response, UpstreamError> {
    let auth = format!("Bearer {}", http::api_key(up)?);
    let url = format!("{}{PATH}", up.api_base.trim_end_matches('/'));
    http::post(
        http,
        up,
        &url,
        &[("authorization", &auth)],
        body,
        error_from_wire,
    )
    .await
}

/// The Mistral body, from an allowlist. Mistral reports no log probabilities, so a
/// request for them is refused rather than answered without.
fn to_wire(up: &Upstream, req: &ChatRequest, stream: bool) -> Result<Value, UpstreamError> {
    if req.logprobs {
        return Err(UpstreamError::InvalidRequest(
            "Mistral models do not return log probabilities: 'logprobs' is not supported".into(),
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), up.model_id.clone().into());
    body.insert("messages".into(), wire_messages(&req.messages).into());
    put(&mut body, "max_tokens", req.max_tokens.map(Value::from));
    put(&mut body, "temperature", req.temperature.map(Value::from));
    put(&mut body, "top_p", req.top_p.map(Value::from));
    put(&mut body, "n", req.n.map(Value::from));
    put(&mut body, "random_seed", req.seed.map(Value::from));
    put(
        &mut body,
        "presence_penalty",
        req.presence_penalty.map(Value::from),
    );
    put(
        &mut body,
        "frequency_penalty",
        req.frequency_penalty.map(Value::from),
    );
    put(&mut body, "response_format", req.response_format.clone());
    if !req.stop.is_empty() {
        body.insert("stop".into(), req.stop.clone().into());
    }
    if !req.tools.is_empty() {
        body.insert("tools".into(), wire_tools(req));
        put(
            &mut body,
            "tool_choice",
            req.tool_choice.as_ref().map(|c| wire_tool_choice(c, "any")),
        );
        put(
            &mut body,
            "parallel_tool_calls",
            req.parallel_tool_calls.map(Value::from),
        );
    }
    if stream {
        body.insert("stream".into(), true.into());
    }
    Ok(Value::Object(body))
}

/// One leading system message, then the conversation; a final assistant turn is a prefix.
fn wire_messages(messages: &[Message]) -> Vec<Value> {
    let system: Vec<String> = messages
        .iter()
        .filter(|m| m.role.is_instruction())
        .map(text)
        .collect();
    let mut out: Vec<Value> = Vec::new();
    if !system.is_empty() {
        out.push(json!({"role": "system", "content": system.join("\n\n")}));
    }
    let mut names: Vec<(&str, &str)> = Vec::new();
    for m in messages.iter().filter(|m| !m.role.is_instruction()) {
        out.push(match m.role {
            Role::Assistant => {
                names.extend(m.tool_calls.iter().map(|c| (c.id.as_str(), c.name.as_str())));
                assistant_message(m)
            }
            Role::Tool => tool_message(m, &names),
            _ => json!({"role": "user", "content": m.content.as_ref().map_or(Value::Null, content_json)}),
        });
    }
    if let Some(last) = out
        .last_mut()
        .filter(|m| m["role"] == "assistant" && m.get("tool_calls").is_none())
    {
        last["prefix"] = true.into();
    }
    out
}

fn text(m: &Message) -> String {
    m.content.as_ref().map(Content::text).unwrap_or_default()
}

fn assistant_message(m: &Message) -> Value {
    let mut msg = json!({"role": "assistant", "content": text(m)});
    if !m.tool_calls.is_empty() {
        msg["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| tool_call_json(c, &mistral_id(&c.id)))
            .collect();
    }
    msg
}

/// `{role, content, tool_call_id, name}`; the name comes from the answered call.
fn tool_message(m: &Message, names: &[(&str, &str)]) -> Value {
    let id = m.tool_call_id.as_deref().unwrap_or_default();
    let name = names
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| *n)
        .or(m.name.as_deref());
    let mut msg = Map::new();
    msg.insert("role".into(), "tool".into());
    msg.insert("content".into(), text(m).into());
    msg.insert("tool_call_id".into(), mistral_id(id).into());
    put(&mut msg, "name", name.map(Value::from));
    Value::Object(msg)
}

/// A valid Mistral id (9 alphanumerics) unchanged; anything else hashed to one.
fn mistral_id(id: &str) -> String {
    if id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return id.to_string();
    }
    Sha256::digest(id.as_bytes())
        .iter()
        .take(9)
        .map(|b| char::from(ID_ALPHABET[usize::from(*b) % ID_ALPHABET.len()]))
        .collect()
}

/// `{"object":"error","message":…,"type","code"}`, `{"detail":"Unauthorized"}`, or the
/// 422 pydantic list (`message.detail` / `detail`) turned into "loc: msg" lines.
fn error_from_wire(_status: u16, body: &[u8]) -> ErrorDetail {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = v.pointer("/message/detail").or_else(|| v.get("detail"));
    let message = match (v.get("message"), detail) {
        (_, Some(Value::Array(items))) => items
            .iter()
            .map(pydantic_line)
            .collect::<Vec<_>>()
            .join("; "),
        (_, Some(Value::String(s))) => s.clone(),
        (Some(Value::String(s)), _) => s.clone(),
        _ => String::new(),
    };
    ErrorDetail {
        message,
        ..ErrorDetail::default()
    }
}

fn pydantic_line(item: &Value) -> String {
    let loc: Vec<String> = item
        .get("loc")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid");
    format!("{}: {msg}", loc.join("."))
}

#[cfg(test)]
mod tests;
