//! OpenAI Chat Completions adapter, also used for OpenAI-compatible servers (vLLM,
//! Ollama, DeepSeek, …). Mistral reuses its response and chunk readers.
//!
//! The upstream body is rebuilt from an allowlist. Streams always ask for usage
//! (`stream_options.include_usage`). `openai_compatible` is lenient: no key means no
//! `Authorization` header, and missing usage is estimated instead of refused.

use super::client::Client;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::http::{self, parse_event, unix_now, ErrorDetail, EventTranslator};
use super::sse::SseEvent;
use super::types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, Content, ContentPart, Delta,
    FinishReason, Message, ResponseMessage, Role, ToolCall, ToolCallDelta, ToolChoice, Usage,
};
use super::{ChunkStream, Provider, ProviderKind, Upstream, UpstreamError, UpstreamErrorKind};

/// Path under `api_base` (which includes `/v1`).
const PATH: &str = "/chat/completions";

/// The OpenAI (and OpenAI-compatible) adapter.
pub(crate) struct OpenAi;

impl Provider for OpenAi {
    async fn complete(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChatResponse, UpstreamError> {
        let lenient = up.provider == ProviderKind::OpenAiCompatible;
        let resp = send(http, up, &to_wire(up, req, false)).await?;
        from_wire(resp.json().await?, req, &up.model_id, lenient)
    }

    async fn stream(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChunkStream, UpstreamError> {
        let resp = send(http, up, &to_wire(up, req, true)).await?;
        Ok(resp.events(StreamState::new(&up.model_id)))
    }
}

async fn send(
    http: &Client,
    up: &Upstream,
    body: &WireBody<'_>,
) -> Result<http::Response, UpstreamError> {
    let key = match (up.provider, http::api_key(up)) {
        (_, Ok(key)) => Some(format!("Bearer {key}")),
        (ProviderKind::OpenAiCompatible, Err(_)) => None,
        (_, Err(e)) => return Err(e),
    };
    let headers: Vec<(&str, &str)> = key.iter().map(|k| ("authorization", k.as_str())).collect();
    let url = format!("{}{PATH}", up.api_base.trim_end_matches('/'));
    http::post(http, up, &url, &headers, body, error_from_wire).await
}

/// The model list: the provider check's call (`GET {api_base}/models`).
pub(crate) fn model_list_request(up: &Upstream) -> (String, Vec<(&'static str, String)>) {
    let url = format!("{}/models", up.api_base.trim_end_matches('/'));
    let auth = http::api_key(up)
        .ok()
        .map(|k| ("authorization", format!("Bearer {k}")));
    (url, auth.into_iter().collect())
}

/// The upstream body: only fields OpenAI (or a compatible server) understands. Fields
/// are declared in sorted order, so the bytes are those of a `Value` holding the same
/// fields (serde_json's maps are sorted); plain text messages are written without one.
#[derive(Serialize)]
struct WireBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    messages: Vec<OutMessage<'a>>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// A message: plain text with a role, or anything else as built by `wire_message`.
#[derive(Serialize)]
#[serde(untagged)]
enum OutMessage<'a> {
    Text { content: &'a str, role: &'a str },
    Other(Value),
}

fn to_wire<'a>(up: &'a Upstream, req: &'a ChatRequest, stream: bool) -> WireBody<'a> {
    let compatible = up.provider == ProviderKind::OpenAiCompatible;
    let max_tokens = req.max_tokens;
    WireBody {
        frequency_penalty: req.frequency_penalty,
        logprobs: req.logprobs.then_some(true),
        max_completion_tokens: max_tokens.filter(|_| !compatible),
        max_tokens: max_tokens.filter(|_| compatible),
        messages: req
            .messages
            .iter()
            .map(|m| match (m, &m.content) {
                (
                    Message {
                        name: None,
                        tool_call_id: None,
                        ..
                    },
                    Some(Content::Text(text)),
                ) if m.tool_calls.is_empty() => OutMessage::Text {
                    content: text,
                    role: wire_role(m.role, compatible),
                },
                _ => OutMessage::Other(wire_message(m, compatible)),
            })
            .collect(),
        model: &up.model_id,
        n: req.n,
        // OpenAI refuses `parallel_tool_calls` without tools.
        parallel_tool_calls: req.parallel_tool_calls.filter(|_| !req.tools.is_empty()),
        presence_penalty: req.presence_penalty,
        response_format: req.response_format.as_ref(),
        seed: req.seed,
        stop: &req.stop,
        stream: stream.then_some(true),
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
        temperature: req.temperature,
        tool_choice: req
            .tool_choice
            .as_ref()
            .map(|c| wire_tool_choice(c, "required")),
        tools: (!req.tools.is_empty()).then(|| wire_tools(req)),
        top_logprobs: req.top_logprobs,
        top_p: req.top_p,
        user: req.user.as_deref(),
    }
}

/// Insert when present.
pub(super) fn put(body: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        body.insert(key.into(), v);
    }
}

/// `developer` is `system` to compatible servers.
fn wire_role(role: Role, compatible: bool) -> &'static str {
    match role {
        Role::Developer if compatible => "system",
        r => r.as_str(),
    }
}

fn wire_message(m: &Message, compatible: bool) -> Value {
    let role = wire_role(m.role, compatible);
    let mut out =
        json!({"role": role, "content": m.content.as_ref().map_or(Value::Null, content_json)});
    if let Some(name) = &m.name {
        out["name"] = name.clone().into();
    }
    if !m.tool_calls.is_empty() {
        out["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| tool_call_json(c, &c.id))
            .collect();
    }
    if let Some(id) = &m.tool_call_id {
        out["tool_call_id"] = id.clone().into();
    }
    out
}

/// OpenAI content: a string, or `text` / `image_url` parts.
pub(super) fn content_json(c: &Content) -> Value {
    match c {
        Content::Text(t) => t.clone().into(),
        Content::Parts(parts) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text(t) => json!({"type": "text", "text": t}),
                ContentPart::Image {
                    url,
                    detail: Some(d),
                } => {
                    json!({"type": "image_url", "image_url": {"url": url, "detail": d}})
                }
                ContentPart::Image { url, detail: None } => {
                    json!({"type": "image_url", "image_url": {"url": url}})
                }
            })
            .collect(),
    }
}

/// `{id, type: function, function: {name, arguments}}` with the given id.
pub(super) fn tool_call_json(c: &ToolCall, id: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}})
}

/// OpenAI-shaped `tools`.
pub(super) fn wire_tools(req: &ChatRequest) -> Value {
    req.tools
        .iter()
        .map(|t| {
            let mut f = Map::new();
            f.insert("name".into(), t.name.clone().into());
            put(
                &mut f,
                "description",
                t.description.clone().map(Value::from),
            );
            put(&mut f, "parameters", t.parameters.clone());
            json!({"type": "function", "function": f})
        })
        .collect()
}

/// OpenAI-shaped `tool_choice`; `required` is spelled as the provider wants.
pub(super) fn wire_tool_choice(c: &ToolChoice, required: &str) -> Value {
    match c {
        ToolChoice::Auto => "auto".into(),
        ToolChoice::None => "none".into(),
        ToolChoice::Required => required.into(),
        ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

/// Read an OpenAI-shaped completion. `lenient`: estimate usage when it is missing.
pub(super) fn from_wire(
    resp: Response,
    req: &ChatRequest,
    model: &str,
    lenient: bool,
) -> Result<ChatResponse, UpstreamError> {
    let choices = resp
        .choices
        .into_iter()
        .map(choice)
        .collect::<Result<Vec<_>, _>>()?;
    let usage = match resp.usage {
        Some(u) => u.canonical(),
        None if lenient => estimate_usage(req, &choices),
        None => return Err(UpstreamError::Protocol("the response has no usage".into())),
    };
    Ok(ChatResponse {
        id: resp.id.unwrap_or_else(|| http::mint_id("chatcmpl-")),
        created: resp.created.unwrap_or_else(unix_now),
        model: resp.model.unwrap_or_else(|| model.to_string()),
        choices,
        usage,
    })
}

fn choice(c: WireChoice) -> Result<Choice, UpstreamError> {
    let tool_calls: Vec<ToolCall> = c
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(ToolCall::from)
        .collect();
    let content = c
        .message
        .content
        .map(|t| t.0)
        .filter(|t| !t.is_empty() || tool_calls.is_empty());
    let finish = match c.finish_reason.as_deref() {
        Some(r) => finish_reason(r)?,
        None if tool_calls.is_empty() => FinishReason::Stop,
        None => FinishReason::ToolCalls,
    };
    Ok(Choice {
        index: c.index,
        message: ResponseMessage {
            content,
            tool_calls,
        },
        finish_reason: finish,
        logprobs: c.logprobs,
    })
}

/// A message's or delta's `content`: a string (read straight into one `String`), or
/// the text of a list of content parts (Mistral reasoning models); anything else is
/// no text. Same result as `text_of` on a `Value`, without building one.
pub(super) struct WireText(pub(super) String);

impl<'de> Deserialize<'de> for WireText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<WireText, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = WireText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WireText, E> {
                Ok(WireText(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<WireText, E> {
                Ok(WireText(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<WireText, A::Error> {
                let parts = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(WireText(text_of(&parts)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<WireText, A::Error> {
                Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(WireText(String::new()))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<WireText, E> {
                Ok(WireText(String::new()))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<WireText, E> {
                Ok(WireText(String::new()))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<WireText, E> {
                Ok(WireText(String::new()))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<WireText, E> {
                Ok(WireText(String::new()))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Content as a string, or the text of a list of content chunks (Mistral reasoning models).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn estimate_usage(req: &ChatRequest, choices: &[Choice]) -> Usage {
    let chars: usize = choices
        .iter()
        .map(|c| {
            let args: usize = c
                .message
                .tool_calls
                .iter()
                .map(|t| t.arguments.len() + t.name.len())
                .sum();
            c.message.content.as_ref().map_or(0, String::len) + args
        })
        .sum();
    Usage {
        prompt_tokens: req.estimate_prompt_tokens(),
        completion_tokens: chars.div_ceil(3) as u64,
        ..Usage::default()
    }
}

/// OpenAI / Mistral finish reasons (§5); Mistral's `error` is an upstream failure.
pub(super) fn finish_reason(r: &str) -> Result<FinishReason, UpstreamError> {
    match r {
        "length" | "model_length" => Ok(FinishReason::Length),
        "tool_calls" | "function_call" => Ok(FinishReason::ToolCalls),
        "content_filter" => Ok(FinishReason::ContentFilter),
        "error" => Err(UpstreamError::Status {
            status: 502,
            message: "the provider ended the generation with an error".into(),
            kind: UpstreamErrorKind::Server,
            retry_after: None,
        }),
        _ => Ok(FinishReason::Stop),
    }
}

mod plain_chunk;
mod stream;
pub(crate) use stream::StreamState;

/// OpenAI's `{"error":{message,type,code}}`; `insufficient_quota` is billing, not rate.
fn error_from_wire(_status: u16, body: &[u8]) -> ErrorDetail {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let err = v.get("error").unwrap_or(&v);
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let code = err
        .get("code")
        .and_then(Value::as_str)
        .or_else(|| err.get("type").and_then(Value::as_str));
    let kind = (code == Some("insufficient_quota")).then_some(UpstreamErrorKind::QuotaExceeded);
    ErrorDetail {
        message,
        kind,
        retry_after: None,
    }
}

/// OpenAI-shaped completion (also Mistral's).
#[derive(Deserialize)]
pub(super) struct Response {
    id: Option<String>,
    created: Option<u64>,
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    index: u32,
    message: WireMessage,
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<Value>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<WireText>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: String,
    arguments: Option<Value>,
}

fn arguments_text(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl From<WireToolCall> for ToolCall {
    fn from(c: WireToolCall) -> ToolCall {
        ToolCall {
            id: c.id,
            name: c.function.name,
            arguments: arguments_text(c.function.arguments),
        }
    }
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    prompt_tokens_details: Option<PromptDetails>,
    /// DeepSeek's name for cache hits.
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

impl WireUsage {
    fn canonical(&self) -> Usage {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens);
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cached_tokens: cached.or(self.prompt_cache_hit_tokens).unwrap_or(0),
            cache_creation_tokens: 0,
            cache_creation_1h_tokens: 0,
            billed_requests: 0,
        }
    }
}

#[cfg(test)]
mod tests;
