//! Anthropic stream translation: typed events (`message_start`, `content_block_*`,
//! `message_delta`, `message_stop`, `error`) to OpenAI chunks, with a running tool index
//! and cumulative output tokens.

use std::rc::Rc;

use super::*;
use crate::proxy::piece::{Piece, StreamHead, TextDelta};

/// Per-stream state: ids, the running tool index, usage so far.
pub(crate) struct StreamState {
    id: String,
    created: u64,
    model: String,
    /// (Anthropic block index, OpenAI tool index) of each tool_use block.
    tools: Vec<(u64, u32)>,
    usage: Usage,
    done: bool,
    /// id, created and model for the text fast path; rebuilt after `message_start`.
    head: Option<Rc<StreamHead>>,
    /// A JSON `response_format`: the forced tool's input is streamed as the text.
    json_answer: bool,
    /// The block index of that tool's call, once it started.
    json_block: Option<u64>,
}

impl StreamState {
    pub(crate) fn new(model: &str) -> StreamState {
        StreamState {
            // `message_start` names the stream; an id is only minted if it did not.
            id: String::new(),
            created: unix_now(),
            model: model.into(),
            tools: Vec::new(),
            usage: Usage::default(),
            done: false,
            head: None,
            json_answer: false,
            json_block: None,
        }
    }

    /// For a JSON `response_format`: the forced tool's input becomes the text deltas,
    /// its `tool_use` stop a plain stop, and any other block is left out.
    pub(crate) fn answering_in_json(mut self) -> StreamState {
        self.json_answer = true;
        self
    }

    /// The stream's id: the one `message_start` gave, else a minted one.
    fn ensure_id(&mut self) {
        if self.id.is_empty() {
            self.id = http::mint_id("msg_");
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<FinishReason>) -> Vec<ChatChunk> {
        vec![ChatChunk::single(
            &self.id,
            self.created,
            &self.model,
            ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                logprobs: None,
            },
        )]
    }

    fn tool_delta(&self, block: u64, delta: ToolCallDelta) -> Vec<ChatChunk> {
        match self.tools.iter().find(|(b, _)| *b == block) {
            Some((_, index)) => self.chunk(
                Delta {
                    tool_calls: vec![ToolCallDelta {
                        index: *index,
                        ..delta
                    }],
                    ..Delta::default()
                },
                None,
            ),
            None => Vec::new(),
        }
    }

    fn block_start(&mut self, index: u64, block: Block) -> Vec<ChatChunk> {
        match block {
            Block::ToolUse { name, .. } if self.json_answer && name == JSON_TOOL => {
                self.json_block = Some(index);
                Vec::new()
            }
            _ if self.json_answer => Vec::new(),
            Block::Text { text } if !text.is_empty() => self.chunk(Delta::text(text), None),
            Block::ToolUse { id, name, .. } => {
                self.tools.push((index, self.tools.len() as u32));
                let header = ToolCallDelta {
                    index: 0,
                    id: Some(id),
                    name: Some(name),
                    arguments: Some(String::new()),
                };
                self.tool_delta(index, header)
            }
            _ => Vec::new(),
        }
    }

    fn message_delta(&mut self, delta: StopDelta, usage: WireUsage) -> Vec<ChatChunk> {
        if usage.input_tokens > 0 {
            // Newer API versions repeat the (cumulative) prompt figures here.
            self.usage = usage.canonical();
        }
        self.usage.completion_tokens = usage.output_tokens;
        let finish = match delta.stop_reason.as_deref() {
            Some("tool_use") if self.json_answer => FinishReason::Stop,
            reason => reason.map_or(FinishReason::Stop, finish_reason),
        };
        self.chunk(Delta::default(), Some(finish))
    }

    fn block_delta(&self, index: u64, delta: BlockDelta) -> Vec<ChatChunk> {
        match delta {
            BlockDelta::InputJsonDelta { partial_json }
                if self.json_block == Some(index) && !partial_json.is_empty() =>
            {
                self.chunk(Delta::text(partial_json), None)
            }
            _ if self.json_answer => Vec::new(),
            BlockDelta::TextDelta { text } => self.chunk(Delta::text(text), None),
            BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => self
                .tool_delta(
                    index,
                    ToolCallDelta {
                        arguments: Some(partial_json),
                        ..ToolCallDelta::default()
                    },
                ),
            _ => Vec::new(),
        }
    }
}

/// The JSON string literal of a plain `text_delta` event, when the event is written
/// the way Anthropic writes it; anything else takes the parsed path.
fn text_delta_literal(data: &str) -> Option<&str> {
    after_block_index(data, "content_block_delta")?
        .strip_prefix(r#","delta":{"type":"text_delta","text":"#)?
        .strip_suffix("}}")
}

/// `{"type":"content_block_start","index":N,"content_block":{"type":"text","text":""}}`.
fn is_empty_text_start(data: &str) -> bool {
    after_block_index(data, "content_block_start")
        .is_some_and(|rest| rest == r#","content_block":{"type":"text","text":""}}"#)
}

/// What follows `{"type":"<kind>","index":<digits>` in a block event written the way
/// Anthropic writes it.
fn after_block_index<'a>(data: &'a str, kind: &str) -> Option<&'a str> {
    let rest = data
        .strip_prefix(r#"{"type":""#)?
        .strip_prefix(kind)?
        .strip_prefix(r#"","index":"#)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest.get(digits..).filter(|_| digits > 0)
}

impl EventTranslator for StreamState {
    fn quick(&mut self, ev: &SseEvent<'_>) -> Option<Piece> {
        if ev.event != Some("content_block_delta") || self.json_answer {
            return None;
        }
        let literal = text_delta_literal(ev.data)?;
        self.ensure_id();
        let head = self.head.get_or_insert_with(|| {
            Rc::new(StreamHead {
                id: self.id.clone(),
                created: self.created,
                model: self.model.clone(),
            })
        });
        TextDelta::new(head, literal).map(Piece::Text)
    }

    fn chunk_from_event(&mut self, ev: &SseEvent<'_>) -> Result<Vec<ChatChunk>, UpstreamError> {
        if ev.event != Some("message_start") {
            self.ensure_id();
        }
        // Anthropic names every event, so the name picks the struct to parse into,
        // skipping serde's buffering of internally tagged enums; an unnamed or unknown
        // event goes through the tagged enum.
        let event = match ev.event {
            Some("content_block_delta") => {
                if let Ok(d) = serde_json::from_str::<FlatDeltaEvent>(ev.data) {
                    let delta = match (d.delta.kind.as_str(), d.delta.text, d.delta.partial_json) {
                        ("text_delta", Some(text), _) => BlockDelta::TextDelta { text },
                        ("input_json_delta", _, Some(partial_json)) => {
                            BlockDelta::InputJsonDelta { partial_json }
                        }
                        _ => BlockDelta::Other,
                    };
                    return Ok(self.block_delta(d.index, delta));
                }
                parse_event(ev.data)?
            }
            Some("ping" | "content_block_stop") => Event::Other,
            Some("message_stop") => Event::MessageStop,
            Some("message_start") => match quick::message_start(ev.data) {
                Some(message) => Event::MessageStart { message },
                None => {
                    let e: MessageStartEvent = parse_event(ev.data)?;
                    Event::MessageStart { message: e.message }
                }
            },
            // An empty text block's start, as Anthropic writes it, says nothing.
            Some("content_block_start") if is_empty_text_start(ev.data) => Event::Other,
            Some("content_block_start") => {
                let e: BlockStartEvent = parse_event(ev.data)?;
                Event::ContentBlockStart {
                    index: e.index,
                    content_block: e.content_block,
                }
            }
            Some("message_delta") => match quick::message_delta(ev.data) {
                Some((delta, usage)) => Event::MessageDelta { delta, usage },
                None => {
                    let e: MessageDeltaEvent = parse_event(ev.data)?;
                    Event::MessageDelta {
                        delta: e.delta,
                        usage: e.usage,
                    }
                }
            },
            _ => parse_event(ev.data)?,
        };
        Ok(match event {
            Event::MessageStart { message } => {
                (self.id, self.model, self.usage) =
                    (message.id, message.model, message.usage.canonical());
                self.head = None;
                self.chunk(Delta::start(), None)
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block),
            Event::ContentBlockDelta { index, delta } => self.block_delta(index, delta),
            Event::MessageDelta { delta, usage } => self.message_delta(delta, usage),
            Event::MessageStop => {
                self.done = true;
                Vec::new()
            }
            Event::Error { error } => {
                let detail = ErrorDetail {
                    message: error.message,
                    ..ErrorDetail::default()
                };
                return Err(http::status_error(status_for(&error.kind), detail, None));
            }
            Event::Other => Vec::new(),
        })
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn finish(&mut self) -> Result<Vec<ChatChunk>, UpstreamError> {
        self.ensure_id();
        if !self.done {
            return Err(UpstreamError::Protocol(
                "the stream ended before message_stop".into(),
            ));
        }
        Ok(vec![ChatChunk::usage_only(
            &self.id,
            self.created,
            &self.model,
            self.usage,
        )])
    }
}

/// The HTTP status an Anthropic error type stands for (in-stream errors have none).
fn status_for(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: MessageResponse,
    },
    ContentBlockStart {
        index: u64,
        content_block: Block,
    },
    ContentBlockDelta {
        index: u64,
        delta: BlockDelta,
    },
    MessageDelta {
        delta: StopDelta,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop,
    Error {
        error: WireError,
    },
    #[serde(other)]
    Other,
}

/// `message_start`, read without tagged-enum buffering.
#[derive(Deserialize)]
pub(super) struct MessageStartEvent {
    pub(super) message: MessageResponse,
}

/// `content_block_start`, read without tagged-enum buffering.
#[derive(Deserialize)]
struct BlockStartEvent {
    index: u64,
    content_block: Block,
}

/// `message_delta`, read without tagged-enum buffering.
#[derive(Deserialize)]
pub(super) struct MessageDeltaEvent {
    pub(super) delta: StopDelta,
    #[serde(default)]
    pub(super) usage: WireUsage,
}

/// `content_block_delta`, read without tagged-enum buffering.
#[derive(Deserialize)]
struct FlatDeltaEvent {
    index: u64,
    delta: FlatDelta,
}

#[derive(Deserialize)]
struct FlatDelta {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    partial_json: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
pub(super) struct StopDelta {
    pub(super) stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: String,
}
