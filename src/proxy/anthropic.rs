//! Anthropic Messages API adapter (PROVIDERS.md §1-§7).
//!
//! Instructions move to top-level `system`, tool calls become `tool_use` blocks and tool
//! messages one user message of `tool_result` blocks, consecutive same-role turns are
//! merged, and `max_tokens` is always sent. Streams translate Anthropic's typed events
//! (running tool index, cumulative output tokens) into OpenAI chunks.

use std::borrow::Cow;

use super::client::Client;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::http::{self, parse_event, unix_now, ErrorDetail, EventTranslator};
use super::sse::SseEvent;
use super::types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, Content, ContentPart, Delta,
    FinishReason, Message, ResponseMessage, Role, ToolCall, ToolCallDelta, ToolChoice, Usage,
};
use super::{ChunkStream, Provider, Upstream, UpstreamError};

/// Required on every call.
const VERSION: &str = "2023-06-01";
/// `max_tokens` when the client gives none (never above the model's cap).
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Anthropic adapter.
pub(crate) struct Anthropic;

impl Provider for Anthropic {
    async fn complete(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChatResponse, UpstreamError> {
        let resp = send(http, up, &to_wire(up, req, false)?).await?;
        Ok(from_wire(resp.json().await?, json_answer(req)))
    }

    async fn stream(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChunkStream, UpstreamError> {
        let resp = send(http, up, &to_wire(up, req, true)?).await?;
        let state = StreamState::new(&up.model_id);
        Ok(resp.events(if json_answer(req) {
            state.answering_in_json()
        } else {
            state
        }))
    }
}

async fn send(
    http: &Client,
    up: &Upstream,
    body: &WireBody<'_>,
) -> Result<http::Response, UpstreamError> {
    let key = http::api_key(up)?;
    let base = up.api_base.trim_end_matches('/');
    let url = if base.ends_with("/v1") {
        format!("{base}/messages")
    } else {
        format!("{base}/v1/messages")
    };
    let headers = [("x-api-key", key), ("anthropic-version", VERSION)];
    http::post(http, up, &url, &headers, body, error_from_wire).await
}

/// The model list: the provider check's call (`GET {api_base}/v1/models`).
pub(crate) fn model_list_request(up: &Upstream) -> (String, Vec<(&'static str, String)>) {
    let base = up.api_base.trim_end_matches('/');
    let url = if base.ends_with("/v1") {
        format!("{base}/models")
    } else {
        format!("{base}/v1/models")
    };
    let mut headers = vec![("anthropic-version", VERSION.to_string())];
    if let Ok(key) = http::api_key(up) {
        headers.push(("x-api-key", key.to_string()));
    }
    (url, headers)
}

/// The `max_tokens` sent for `model`: the request's, capped, or the default.
pub(crate) fn max_tokens(model: &str, requested: Option<u32>) -> u32 {
    match (requested, output_cap(model)) {
        (Some(r), Some(cap)) => r.min(cap),
        (Some(r), None) => r,
        (None, cap) => cap.map_or(DEFAULT_MAX_TOKENS, |c| c.min(DEFAULT_MAX_TOKENS)),
    }
}

/// Output-token cap by model family; `None` when the family is unknown.
fn output_cap(model: &str) -> Option<u32> {
    let m = model.to_ascii_lowercase();
    if ["sonnet-4", "opus-4", "haiku-4"]
        .iter()
        .any(|f| m.contains(f))
    {
        Some(64_000)
    } else if ["claude-3-5", "claude-3-7", "3-5-haiku", "haiku-3-5"]
        .iter()
        .any(|f| m.contains(f))
    {
        Some(8192)
    } else if m.contains("claude-3") {
        Some(4096)
    } else {
        None
    }
}

/// The Messages API body, from an allowlist.
/// The Messages API body. Fields are declared in sorted order, so the bytes are those
/// of a `Value` holding the same fields (serde_json's maps are sorted).
#[derive(Serialize)]
struct WireBody<'a> {
    max_tokens: u32,
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    model: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

/// One user or assistant turn.
#[derive(Serialize)]
struct Turn<'a> {
    content: Vec<WireBlock<'a>>,
    role: &'static str,
}

/// A content block: text, written directly, or any other block as a `Value`.
#[derive(Serialize)]
#[serde(untagged)]
enum WireBlock<'a> {
    Text {
        text: Cow<'a, str>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Other(Value),
}

impl<'a> WireBlock<'a> {
    fn text(text: impl Into<Cow<'a, str>>) -> WireBlock<'a> {
        WireBlock::Text {
            text: text.into(),
            kind: "text",
        }
    }
}

/// The tool a JSON `response_format` becomes. Not every Claude model (nor every
/// Anthropic-compatible endpoint) has a JSON mode, but all of them can be made to call a
/// tool: the model must call this one, and its input is the answer's text.
const JSON_TOOL: &str = "json_response";

/// The request asks for a JSON answer (`json_object` or `json_schema`).
fn json_answer(req: &ChatRequest) -> bool {
    matches!(
        response_format_type(req),
        Some("json_object" | "json_schema")
    )
}

fn response_format_type(req: &ChatRequest) -> Option<&str> {
    req.response_format.as_ref()?.get("type")?.as_str()
}

/// The forced tool standing for a JSON `response_format`: its schema is the
/// `json_schema`'s, or any object for `json_object`.
fn json_tool(req: &ChatRequest) -> Value {
    let schema = req
        .response_format
        .as_ref()
        .and_then(|f| f.pointer("/json_schema/schema"))
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    json!([{"name": JSON_TOOL, "description": "Respond with the answer as this tool's input.",
            "input_schema": schema}])
}

/// What Anthropic cannot do, refused before anything is sent.
fn check_supported(req: &ChatRequest) -> Result<(), UpstreamError> {
    let refuse = |message: &str| Err(UpstreamError::InvalidRequest(message.into()));
    if req.n.is_some_and(|n| n > 1) {
        return refuse("Anthropic models return a single choice: 'n' must be 1");
    }
    if req.logprobs {
        return refuse(
            "Anthropic models do not return log probabilities: 'logprobs' is not supported",
        );
    }
    if json_answer(req) && !req.tools.is_empty() {
        return refuse(
            "Anthropic models answer a JSON 'response_format' through a tool call: it cannot be combined with 'tools'",
        );
    }
    Ok(())
}

fn to_wire<'a>(
    up: &'a Upstream,
    req: &'a ChatRequest,
    stream: bool,
) -> Result<WireBody<'a>, UpstreamError> {
    check_supported(req)?;
    let with_tools = !req.tools.is_empty();
    let (tools, tool_choice) = if json_answer(req) {
        let choice = json!({"type": "tool", "name": JSON_TOOL});
        (Some(json_tool(req)), Some(choice))
    } else {
        let choice = with_tools.then(|| {
            let choice = req.tool_choice.as_ref().unwrap_or(&ToolChoice::Auto);
            wire_tool_choice(choice, req.parallel_tool_calls == Some(false))
        });
        // No choice is sent unless asked for or needed to say "one call at a time".
        let choice =
            choice.filter(|_| req.tool_choice.is_some() || req.parallel_tool_calls == Some(false));
        (with_tools.then(|| wire_tools(req)), choice)
    };
    Ok(WireBody {
        max_tokens: max_tokens(&up.model_id, req.max_tokens),
        messages: wire_messages(&req.messages)?,
        metadata: req.user.as_deref().map(|user_id| Metadata { user_id }),
        model: &up.model_id,
        stop_sequences: &req.stop,
        stream: stream.then_some(true),
        system: system(&req.messages),
        temperature: req.temperature.map(|t| (t / 2.0).clamp(0.0, 1.0)),
        tool_choice,
        tools,
        top_p: req.top_p,
    })
}

/// Instructions (`system` / `developer`) joined for the top-level `system`.
fn system(messages: &[Message]) -> Option<String> {
    let parts: Vec<String> = messages
        .iter()
        .filter(|m| m.role.is_instruction())
        .filter_map(text)
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

fn wire_tools(req: &ChatRequest) -> Value {
    req.tools
        .iter()
        .map(|t| {
            let schema = t
                .parameters
                .clone()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            let mut tool = json!({"name": t.name, "input_schema": schema});
            if let Some(d) = &t.description {
                tool["description"] = d.clone().into();
            }
            tool
        })
        .collect()
}

fn text(m: &Message) -> Option<String> {
    m.content
        .as_ref()
        .map(Content::text)
        .filter(|t| !t.is_empty())
}

/// `tool_choice`; `one_call` (`parallel_tool_calls: false`) adds
/// `disable_parallel_tool_use`, which `none` does not take.
fn wire_tool_choice(c: &ToolChoice, one_call: bool) -> Value {
    let mut choice = match c {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => return json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
    };
    if one_call {
        choice["disable_parallel_tool_use"] = true.into();
    }
    choice
}

/// user/assistant turns of content blocks, same-role turns merged, starting with user.
fn wire_messages(messages: &[Message]) -> Result<Vec<Turn<'_>>, UpstreamError> {
    let mut turns: Vec<(&'static str, Vec<WireBlock<'_>>)> = Vec::new();
    for m in messages {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => continue,
            Role::User => ("user", user_blocks(m)),
            Role::Assistant => ("assistant", assistant_blocks(m)?),
            Role::Tool => ("user", vec![WireBlock::Other(tool_result(m))]),
        };
        match turns.last_mut() {
            _ if blocks.is_empty() => {}
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.first().map(|(r, _)| *r) != Some("user") {
        return Err(UpstreamError::InvalidRequest(
            "Anthropic models need the conversation to start with a non-empty user message".into(),
        ));
    }
    if let Some(("assistant", blocks)) = turns.last_mut() {
        // A final assistant prefill must not end with whitespace.
        if let Some(WireBlock::Text { text, .. }) = blocks.last_mut() {
            *text = Cow::Owned(text.trim_end().to_string());
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, content)| Turn { content, role })
        .collect())
}

fn user_blocks(m: &Message) -> Vec<WireBlock<'_>> {
    fn text_block(t: &str) -> Option<WireBlock<'_>> {
        (!t.is_empty()).then(|| WireBlock::text(t))
    }
    match &m.content {
        None => Vec::new(),
        Some(Content::Text(t)) => text_block(t).into_iter().collect(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => text_block(t),
                ContentPart::Image { url, .. } => Some(WireBlock::Other(image_block(url))),
            })
            .collect(),
    }
}

fn image_block(url: &str) -> Value {
    match parse_data_url(url) {
        Some((media_type, data)) => {
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
        }
        None => json!({"type": "image", "source": {"type": "url", "url": url}}),
    }
}

/// `data:<mime>;base64,<data>` → (mime, data).
pub(super) fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some((mime, data))
}

fn assistant_blocks(m: &Message) -> Result<Vec<WireBlock<'_>>, UpstreamError> {
    let mut blocks: Vec<WireBlock<'_>> = text(m).map(WireBlock::text).into_iter().collect();
    for call in &m.tool_calls {
        let input = parse_arguments(&call.arguments)?;
        blocks.push(WireBlock::Other(
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}),
        ));
    }
    Ok(blocks)
}

/// A tool call's `arguments` string as the JSON object providers want.
pub(super) fn parse_arguments(arguments: &str) -> Result<Value, UpstreamError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(UpstreamError::InvalidRequest(format!(
            "tool call arguments must be a JSON object, got: {arguments}"
        ))),
    }
}

fn tool_result(m: &Message) -> Value {
    let mut block = json!({"type": "tool_result", "tool_use_id": m.tool_call_id});
    if let Some(t) = text(m) {
        block["content"] = t.into();
    }
    block
}

/// Read a Messages API response. For a JSON answer (`json_answer`) the forced tool's
/// input is the text, and nothing else the model said is.
fn from_wire(msg: MessageResponse, json_answer: bool) -> ChatResponse {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in msg.content {
        match block {
            Block::ToolUse { name, input, .. } if json_answer && name == JSON_TOOL => {
                text = input.to_string();
            }
            _ if json_answer => {}
            Block::Text { text: t } => text.push_str(&t),
            Block::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                name,
                arguments: input.to_string(),
            }),
            Block::Other => {}
        }
    }
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text);
    let finish_reason = match msg.stop_reason.as_deref() {
        Some("tool_use") if json_answer => FinishReason::Stop,
        reason => reason.map_or(FinishReason::Stop, finish_reason),
    };
    ChatResponse {
        id: msg.id,
        created: unix_now(),
        model: msg.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                content,
                tool_calls,
            },
            finish_reason,
            logprobs: None,
        }],
        usage: msg.usage.canonical(),
    }
}

fn finish_reason(r: &str) -> FinishReason {
    match r {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

mod quick;
mod stream;
use stream::StreamState;

/// `{"type":"error","error":{"type","message"}}`.
fn error_from_wire(_status: u16, body: &[u8]) -> ErrorDetail {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    ErrorDetail {
        message: message.to_string(),
        ..ErrorDetail::default()
    }
}

#[derive(Deserialize)]
struct MessageResponse {
    id: String,
    model: String,
    #[serde(default)]
    content: Vec<Block>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    #[serde(other)]
    Other,
}

/// Anthropic's `usage` (also read by the Messages door's passthrough).
#[derive(Deserialize, Default)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub(crate) input_tokens: u64,
    #[serde(default)]
    pub(crate) output_tokens: u64,
    pub(crate) cache_creation_input_tokens: Option<u64>,
    pub(crate) cache_read_input_tokens: Option<u64>,
    pub(crate) cache_creation: Option<CacheCreation>,
}

/// The cache writes by TTL.
#[derive(Deserialize, Default)]
pub(crate) struct CacheCreation {
    #[serde(default)]
    pub(crate) ephemeral_1h_input_tokens: u64,
}

impl WireUsage {
    /// The canonical usage: prompt = input + cache writes + cache reads.
    pub(crate) fn canonical(&self) -> Usage {
        let (created, read) = (
            self.cache_creation_input_tokens.unwrap_or(0),
            self.cache_read_input_tokens.unwrap_or(0),
        );
        let created_1h = self
            .cache_creation
            .as_ref()
            .map_or(0, |c| c.ephemeral_1h_input_tokens)
            .min(created);
        Usage {
            prompt_tokens: self.input_tokens + created + read,
            completion_tokens: self.output_tokens,
            cached_tokens: read,
            cache_creation_tokens: created,
            cache_creation_1h_tokens: created_1h,
            billed_requests: 0,
        }
    }
}

#[cfg(test)]
mod tests;
