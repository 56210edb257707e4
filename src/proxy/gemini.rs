//! Google Gemini (Generative Language API) adapter (PROVIDERS.md §1-§7).
//!
//! Roles become `user`/`model` turns, instructions `systemInstruction`, sampling knobs
//! `generationConfig`, tools `functionDeclarations` with a cleaned schema. Gemini has
//! no tool-call ids: tool results find their function name through the earlier call's id,
//! and ids are minted (`call_…`) on the way back. Streams (`?alt=sse`, CRLF, no `[DONE]`)
//! end at body end; a `finishReason` must have been seen by then.

use std::collections::HashMap;
use std::time::Duration;

use super::client::Client;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::anthropic::{parse_arguments, parse_data_url};
use super::http::{self, mint_id, parse_event, unix_now, ErrorDetail, EventTranslator};
use super::openai::put;
use super::sse::SseEvent;
use super::types::Tool;
use super::types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, Content, ContentPart, Delta,
    FinishReason, Message, ResponseMessage, Role, ToolCall, ToolCallDelta, ToolChoice, Usage,
};
use super::{ChunkStream, Provider, Upstream, UpstreamError, UpstreamErrorKind};
use schema::{clean_schema, has_properties};

/// Added to `api_base` unless it already names a version.
const API_VERSION: &str = "/v1beta";
/// Gemini accepts at most this many stop sequences.
const MAX_STOP_SEQUENCES: usize = 5;
/// The Gemini adapter.
pub(crate) struct Gemini;

impl Provider for Gemini {
    async fn complete(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChatResponse, UpstreamError> {
        let resp = send(http, up, "generateContent", &to_wire(req)?).await?;
        from_wire(resp.json().await?, &up.model_id)
    }

    async fn stream(
        &self,
        http: &Client,
        up: &Upstream,
        req: &ChatRequest,
    ) -> Result<ChunkStream, UpstreamError> {
        let resp = send(http, up, "streamGenerateContent?alt=sse", &to_wire(req)?).await?;
        Ok(resp.events(StreamState::new(&up.model_id)))
    }
}

/// The model list: the provider check's call (`GET {api_base}/v1beta/models`).
pub(crate) fn model_list_request(up: &Upstream) -> (String, Vec<(&'static str, String)>) {
    let url = format!("{}/models", versioned_base(up));
    let key = http::api_key(up)
        .ok()
        .map(|k| ("x-goog-api-key", k.to_string()));
    (url, key.into_iter().collect())
}

/// `api_base` with the API version, unless it already names one.
fn versioned_base(up: &Upstream) -> String {
    let base = up.api_base.trim_end_matches('/');
    if base.ends_with("/v1beta") || base.ends_with("/v1") {
        base.to_string()
    } else {
        format!("{base}{API_VERSION}")
    }
}

async fn send(
    http: &Client,
    up: &Upstream,
    method: &str,
    body: &Value,
) -> Result<http::Response, UpstreamError> {
    let key = http::api_key(up)?;
    let model = up.model_id.strip_prefix("models/").unwrap_or(&up.model_id);
    let url = format!("{}/models/{model}:{method}", versioned_base(up));
    http::post(
        http,
        up,
        &url,
        &[("x-goog-api-key", key)],
        body,
        error_from_wire,
    )
    .await
}

/// The `GenerateContentRequest` body, from an allowlist.
fn to_wire(req: &ChatRequest) -> Result<Value, UpstreamError> {
    let mut body = Map::new();
    body.insert("contents".into(), wire_contents(&req.messages)?.into());
    if let Some(system) = system(&req.messages) {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system}]}),
        );
    }
    let config = generation_config(req);
    if !config.is_empty() {
        body.insert("generationConfig".into(), config.into());
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req.tools.iter().map(function_declaration).collect();
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
        put(
            &mut body,
            "toolConfig",
            req.tool_choice.as_ref().map(tool_config),
        );
    }
    Ok(Value::Object(body))
}

/// Instructions joined for `systemInstruction`.
fn system(messages: &[Message]) -> Option<String> {
    let parts: Vec<String> = messages
        .iter()
        .filter(|m| m.role.is_instruction())
        .filter_map(|m| m.content.as_ref().map(Content::text))
        .filter(|t| !t.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

fn function_declaration(t: &Tool) -> Value {
    let mut d = json!({"name": t.name});
    if let Some(desc) = &t.description {
        d["description"] = desc.clone().into();
    }
    if let Some(p) = t.parameters.as_ref().filter(|p| has_properties(p)) {
        d["parameters"] = clean_schema(p);
    }
    d
}

fn generation_config(req: &ChatRequest) -> Map<String, Value> {
    let mut c = Map::new();
    put(&mut c, "maxOutputTokens", req.max_tokens.map(Value::from));
    put(&mut c, "temperature", req.temperature.map(Value::from));
    put(&mut c, "topP", req.top_p.map(Value::from));
    put(&mut c, "candidateCount", req.n.map(Value::from));
    put(&mut c, "seed", req.seed.map(Value::from));
    if req.logprobs {
        c.insert("responseLogprobs".into(), true.into());
        put(&mut c, "logprobs", req.top_logprobs.map(Value::from));
    }
    put(
        &mut c,
        "presencePenalty",
        req.presence_penalty.map(Value::from),
    );
    put(
        &mut c,
        "frequencyPenalty",
        req.frequency_penalty.map(Value::from),
    );
    if !req.stop.is_empty() {
        let stop: Vec<&String> = req.stop.iter().take(MAX_STOP_SEQUENCES).collect();
        c.insert("stopSequences".into(), json!(stop));
    }
    let format = req.response_format.as_ref();
    match format.and_then(|f| f.get("type")).and_then(Value::as_str) {
        Some("json_object") => put(&mut c, "responseMimeType", Some("application/json".into())),
        Some("json_schema") => {
            put(&mut c, "responseMimeType", Some("application/json".into()));
            let schema = format.and_then(|f| f.pointer("/json_schema/schema"));
            put(&mut c, "responseSchema", schema.map(clean_schema));
        }
        _ => {}
    }
    c
}

fn tool_config(c: &ToolChoice) -> Value {
    let config = match c {
        ToolChoice::Auto => json!({"mode": "AUTO"}),
        ToolChoice::None => json!({"mode": "NONE"}),
        ToolChoice::Required => json!({"mode": "ANY"}),
        ToolChoice::Function(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
    };
    json!({"functionCallingConfig": config})
}

/// `user`/`model` turns, same-role turns merged.
fn wire_contents(messages: &[Message]) -> Result<Vec<Value>, UpstreamError> {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => continue,
            Role::User => ("user", user_parts(m)),
            Role::Assistant => {
                names.extend(
                    m.tool_calls
                        .iter()
                        .map(|c| (c.id.as_str(), c.name.as_str())),
                );
                ("model", model_parts(m)?)
            }
            Role::Tool => ("user", vec![function_response(m, &names)?]),
        };
        match turns.last_mut() {
            _ if parts.is_empty() => {}
            Some((r, p)) if *r == role => p.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    if turns.is_empty() {
        return Err(UpstreamError::InvalidRequest(
            "Gemini models need at least one non-empty user message".into(),
        ));
    }
    Ok(turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect())
}

fn user_parts(m: &Message) -> Vec<Value> {
    let text = |t: &str| (!t.is_empty()).then(|| json!({"text": t}));
    match &m.content {
        None => Vec::new(),
        Some(Content::Text(t)) => text(t).into_iter().collect(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => text(t),
                ContentPart::Image { url, .. } => Some(image_part(url)),
            })
            .collect(),
    }
}

fn image_part(url: &str) -> Value {
    if let Some((mime, data)) = parse_data_url(url) {
        return json!({"inlineData": {"mimeType": mime, "data": data}});
    }
    let lower = url.to_ascii_lowercase();
    let mime = [
        (".png", "image/png"),
        (".gif", "image/gif"),
        (".webp", "image/webp"),
    ]
    .iter()
    .find(|(ext, _)| lower.ends_with(ext))
    .map_or("image/jpeg", |(_, m)| m);
    json!({"fileData": {"mimeType": mime, "fileUri": url}})
}

fn model_parts(m: &Message) -> Result<Vec<Value>, UpstreamError> {
    let text = m
        .content
        .as_ref()
        .map(Content::text)
        .filter(|t| !t.is_empty());
    let mut parts: Vec<Value> = text.map(|t| json!({"text": t})).into_iter().collect();
    for call in &m.tool_calls {
        let args = parse_arguments(&call.arguments)?;
        parts.push(json!({"functionCall": {"name": call.name, "args": args}}));
    }
    Ok(parts)
}

fn function_response(m: &Message, names: &HashMap<&str, &str>) -> Result<Value, UpstreamError> {
    let id = m.tool_call_id.as_deref().unwrap_or_default();
    let name = names
        .get(id)
        .copied()
        .or(m.name.as_deref())
        .ok_or_else(|| {
            UpstreamError::InvalidRequest(format!(
                "tool message answers unknown tool call '{id}': Gemini needs its function name"
            ))
        })?;
    let text = m.content.as_ref().map(Content::text).unwrap_or_default();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"content": text}),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

/// Read a `GenerateContentResponse`.
fn from_wire(resp: GenerateResponse, model: &str) -> Result<ChatResponse, UpstreamError> {
    let usage = resp
        .usage_metadata
        .as_ref()
        .map(WireUsage::canonical)
        .unwrap_or_default();
    let blocked = resp
        .prompt_feedback
        .as_ref()
        .is_some_and(|f| f.block_reason.is_some());
    let choices: Vec<Choice> = if resp.candidates.is_empty() && blocked {
        let message = ResponseMessage {
            content: Some(String::new()),
            tool_calls: Vec::new(),
        };
        vec![Choice {
            index: 0,
            message,
            finish_reason: FinishReason::ContentFilter,
            logprobs: None,
        }]
    } else {
        resp.candidates
            .into_iter()
            .enumerate()
            .map(|(i, c)| candidate_choice(i, c))
            .collect()
    };
    if choices.is_empty() {
        return Err(UpstreamError::Protocol(
            "the response has no candidates".into(),
        ));
    }
    Ok(ChatResponse {
        id: resp.response_id.unwrap_or_else(|| mint_id("chatcmpl-")),
        created: unix_now(),
        model: resp.model_version.unwrap_or_else(|| model.to_string()),
        choices,
        usage,
    })
}

fn candidate_choice(position: usize, c: Candidate) -> Choice {
    let (text, calls) = split_parts(c.content.map(|c| c.parts).unwrap_or_default());
    let tool_calls: Vec<ToolCall> = calls
        .into_iter()
        .map(|(name, arguments)| ToolCall {
            id: mint_id("call_"),
            name,
            arguments,
        })
        .collect();
    let finish_reason = finish_reason(c.finish_reason.as_deref(), !tool_calls.is_empty());
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text);
    Choice {
        index: c.index.unwrap_or(position as u32),
        message: ResponseMessage {
            content,
            tool_calls,
        },
        finish_reason,
        logprobs: c
            .logprobs_result
            .as_ref()
            .map(logprobs::LogprobsResult::openai),
    }
}

/// Text (thoughts skipped) and (name, JSON arguments) of each function call.
fn split_parts(parts: Vec<Part>) -> (String, Vec<(String, String)>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for p in parts {
        match (p.text, p.function_call) {
            (Some(t), _) if !p.thought => text.push_str(&t),
            (_, Some(f)) => calls.push((f.name, f.args.unwrap_or_else(|| json!({})).to_string())),
            _ => {}
        }
    }
    (text, calls)
}

/// §5: Gemini has no tool reason; STOP with function calls means `tool_calls`.
fn finish_reason(r: Option<&str>, has_calls: bool) -> FinishReason {
    match r {
        Some("MAX_TOKENS") => FinishReason::Length,
        Some(
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY",
        ) => FinishReason::ContentFilter,
        _ if has_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

mod logprobs;
mod schema;
mod stream;
use stream::StreamState;

/// `{"error":{code,message,status,details}}` (also inside a one-element array);
/// `API_KEY_INVALID` is an auth failure despite its 400, `RetryInfo` gives a delay.
fn error_from_wire(_status: u16, body: &[u8]) -> ErrorDetail {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let v = v.get(0).unwrap_or(&v);
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let details = v
        .pointer("/error/details")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let bad_key = details
        .iter()
        .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"));
    let retry_after = details
        .iter()
        .filter_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .find_map(|s| s.strip_suffix('s')?.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    ErrorDetail {
        message,
        kind: bad_key.then_some(UpstreamErrorKind::Authentication),
        retry_after,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    usage_metadata: Option<WireUsage>,
    model_version: Option<String>,
    response_id: Option<String>,
    prompt_feedback: Option<PromptFeedback>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<CandidateContent>,
    finish_reason: Option<String>,
    index: Option<u32>,
    logprobs_result: Option<logprobs::LogprobsResult>,
}

#[derive(Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    name: String,
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
}

impl WireUsage {
    fn canonical(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_token_count,
            completion_tokens: self.candidates_token_count + self.thoughts_token_count,
            cached_tokens: self.cached_content_token_count,
            cache_creation_tokens: 0,
            cache_creation_1h_tokens: 0,
            billed_requests: 0,
        }
    }
}

#[cfg(test)]
mod tests;
