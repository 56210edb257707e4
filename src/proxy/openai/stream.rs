//! OpenAI-shaped stream translation (OpenAI, compatible servers, Mistral): `data:`
//! chunks until `[DONE]`; a usage report becomes its own usage-only chunk.

use std::borrow::Cow;
use std::rc::Rc;

use super::plain_chunk::plain_chunk;
use super::*;
use crate::proxy::piece::{decode_literal, Piece, StreamHead, TextDelta};

/// Per-stream state for OpenAI-shaped streams (OpenAI, compatible servers, Mistral).
pub(crate) struct StreamState {
    id: Option<String>,
    created: u64,
    model: String,
    done: bool,
    /// id, created and model for the text fast path; rebuilt when the model changes.
    head: Option<Rc<StreamHead>>,
    /// The bytes before and after the content literal of the last text chunk that was
    /// walked field by field. A provider writes every text chunk of a stream alike, so
    /// a chunk with the same bytes around a canonical literal is that chunk with other
    /// text, and needs no walk.
    template: Option<(Box<str>, Box<str>)>,
}

impl StreamState {
    /// A stream for a deployment of `model`.
    pub(crate) fn new(model: &str) -> StreamState {
        StreamState {
            id: None,
            created: unix_now(),
            model: model.to_string(),
            done: false,
            head: None,
            template: None,
        }
    }

    /// The stream reports the model its chunks name; what every chunk repeats is
    /// rebuilt when that changes.
    fn follow_model(&mut self, model: Option<&str>) {
        if let Some(model) = model.filter(|m| *m != self.model) {
            self.model = model.to_string();
            self.head = None;
            self.template = None;
        }
    }

    fn translate(&mut self, chunk: Chunk<'_>) -> Result<Vec<ChatChunk>, UpstreamError> {
        let id = self
            .id
            .get_or_insert_with(|| {
                chunk
                    .id
                    .map_or_else(|| http::mint_id("chatcmpl-"), Cow::into_owned)
            })
            .clone();
        self.follow_model(chunk.model.as_deref());
        let mut out = Vec::new();
        if !chunk.choices.is_empty() {
            let choices = chunk
                .choices
                .into_iter()
                .map(chunk_choice)
                .collect::<Result<Vec<_>, _>>()?;
            out.push(ChatChunk {
                id: id.clone(),
                created: self.created,
                model: self.model.clone(),
                choices,
                usage: None,
            });
        }
        if let Some(u) = chunk.usage {
            out.push(ChatChunk::usage_only(
                &id,
                self.created,
                &self.model,
                u.canonical(),
            ));
        }
        Ok(out)
    }
}

impl EventTranslator for StreamState {
    /// A plain chunk (role, text, finish, usage; see `plain_chunk`). Like `translate`,
    /// the first chunk names the stream and the stream follows the chunks' model.
    fn quick(&mut self, ev: &SseEvent<'_>) -> Option<Piece> {
        let data = ev.data;
        if let (Some((before, after)), Some(head)) = (&self.template, &self.head) {
            let literal = data
                .strip_prefix(&**before)
                .and_then(|rest| rest.strip_suffix(&**after));
            if let Some(delta) = literal.and_then(|l| TextDelta::new(head, l)) {
                return Some(Piece::Text(delta));
            }
        }
        let chunk = plain_chunk(data)?;
        self.follow_model(chunk.model);
        let id = match (&self.id, chunk.id) {
            (Some(id), _) => id,
            (None, Some(first)) => self.id.insert(first.to_string()),
            (None, None) => return None,
        };
        let head = self.head.get_or_insert_with(|| {
            Rc::new(StreamHead {
                id: id.clone(),
                created: self.created,
                model: self.model.clone(),
            })
        });
        if let Some(u) = chunk.usage {
            let usage = WireUsage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                prompt_tokens_details: Some(PromptDetails {
                    cached_tokens: u.cached_tokens,
                }),
                prompt_cache_hit_tokens: u.prompt_cache_hit_tokens,
            };
            return Some(Piece::Chunk(ChatChunk::usage_only(
                &head.id,
                head.created,
                &head.model,
                usage.canonical(),
            )));
        }
        if chunk.is_text() {
            let (start, literal) = chunk.content?;
            let delta = TextDelta::new(head, literal)?;
            let end = start + literal.len();
            self.template = Some((data[..start].into(), data[end..].into()));
            return Some(Piece::Text(delta));
        }
        // The role and finishing chunks go through the typed path's mapping.
        let content = match chunk.content {
            Some((_, literal)) => Some(WireText(decode_literal(literal)?)),
            None => None,
        };
        let choice = WireChunkChoice {
            index: 0,
            delta: WireDelta {
                role: chunk.role.map(str::to_string),
                content,
                tool_calls: None,
            },
            finish_reason: chunk.finish_reason.map(str::to_string),
            logprobs: None,
        };
        Some(Piece::Chunk(ChatChunk::single(
            &head.id,
            head.created,
            &head.model,
            chunk_choice(choice).ok()?,
        )))
    }

    fn chunk_from_event(&mut self, ev: &SseEvent<'_>) -> Result<Vec<ChatChunk>, UpstreamError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        // The common case parses straight into the typed chunk; only an event that may
        // be an error is looked at as a generic JSON value first.
        if !data.contains("\"error\"") {
            if let Ok(chunk) = serde_json::from_str::<Chunk>(data) {
                return self.translate(chunk);
            }
        }
        let v: Value = parse_event(data)?;
        if v.get("error").is_some() || v.get("object").and_then(Value::as_str) == Some("error") {
            let status = stream_error_status(&v);
            return Err(http::status_error(
                status,
                error_from_wire(status, data.as_bytes()),
                None,
            ));
        }
        let chunk = Chunk::deserialize(&v)
            .map_err(|e| UpstreamError::Protocol(format!("bad chunk: {e}")))?;
        self.translate(chunk)
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn finish(&mut self) -> Result<Vec<ChatChunk>, UpstreamError> {
        if self.done {
            Ok(Vec::new())
        } else {
            Err(UpstreamError::Protocol(
                "the stream ended before [DONE]".into(),
            ))
        }
    }
}

fn chunk_choice(c: WireChunkChoice) -> Result<ChunkChoice, UpstreamError> {
    let tool_calls = c
        .delta
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(ToolCallDelta::from)
        .collect();
    let delta = Delta {
        role: c
            .delta
            .role
            .filter(|r| r == "assistant")
            .map(|_| Role::Assistant),
        content: c.delta.content.map(|t| t.0),
        tool_calls,
    };
    let finish_reason = c.finish_reason.as_deref().map(finish_reason).transpose()?;
    Ok(ChunkChoice {
        index: c.index,
        delta,
        finish_reason,
        logprobs: c.logprobs,
    })
}

/// The status an in-stream error implies.
fn stream_error_status(v: &Value) -> u16 {
    let code = v
        .pointer("/error/code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok());
    let kind = v
        .pointer("/error/type")
        .or_else(|| v.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match (code, kind) {
        (Some(c), _) if (400..600).contains(&c) => c,
        (_, "invalid_request_error") => 400,
        (_, "rate_limit_exceeded" | "rate_limited" | "tokens" | "requests") => 429,
        _ => 500,
    }
}

/// One `chat.completion.chunk`; `id` and `model` are borrowed from the event (they
/// repeat in every chunk and are only kept once per stream).
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: WireDelta,
    finish_reason: Option<String>,
    /// Kept as given (`{"content": [...], "refusal": ...}`); null and absent are `None`.
    #[serde(default)]
    logprobs: Option<Value>,
}

#[derive(Deserialize, Default)]
struct WireDelta {
    role: Option<String>,
    content: Option<WireText>,
    tool_calls: Option<Vec<WireToolDelta>>,
}

#[derive(Deserialize)]
struct WireToolDelta {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    name: Option<String>,
    arguments: Option<Value>,
}

impl From<WireToolDelta> for ToolCallDelta {
    fn from(d: WireToolDelta) -> ToolCallDelta {
        let (name, arguments) = d.function.map_or((None, None), |f| {
            (f.name, f.arguments.map(|a| arguments_text(Some(a))))
        });
        ToolCallDelta {
            index: d.index,
            id: d.id,
            name,
            arguments,
        }
    }
}
