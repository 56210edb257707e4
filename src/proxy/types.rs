//! Canonical chat types: the one shape every provider adapter translates to and from.
//!
//! A `ChatRequest` is parsed from the client's OpenAI body (see `request.rs`); a
//! `ChatResponse` / `ChatChunk` renders back to OpenAI's exact JSON. This module owns the
//! types and their OpenAI rendering; it knows nothing about any provider's wire format.

use serde_json::Value;

/// A client request after parsing and validation (OpenAI Chat Completions semantics).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model name the client asked for (a Tollgate model name, not a provider id).
    pub model: String,
    /// The conversation, in order.
    pub messages: Vec<Message>,
    /// `"stream": true`.
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// `max_tokens`, or `max_completion_tokens` when that is given.
    pub max_tokens: Option<u32>,
    /// 0..=2 (validated).
    pub temperature: Option<f64>,
    /// 0..=1 (validated).
    pub top_p: Option<f64>,
    /// `stop`, normalised to a list (a single string becomes one element).
    pub stop: Vec<String>,
    /// Number of choices, ≥ 1 (validated).
    pub n: Option<u32>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// -2..=2 (validated).
    pub presence_penalty: Option<f64>,
    /// -2..=2 (validated).
    pub frequency_penalty: Option<f64>,
    /// End-user identifier.
    pub user: Option<String>,
    /// `response_format`, kept as given (an object).
    pub response_format: Option<Value>,
    /// Function tools the model may call.
    pub tools: Vec<Tool>,
    /// How the model should pick a tool.
    pub tool_choice: Option<ToolChoice>,
    /// `parallel_tool_calls`: `Some(false)` asks for at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    /// `logprobs: true`: the log probabilities of the output tokens are wanted back.
    pub logprobs: bool,
    /// `top_logprobs` (0..=20, only with `logprobs`): alternatives per token.
    pub top_logprobs: Option<u32>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instructions (`system`).
    System,
    /// Instructions (`developer`, OpenAI's newer name for system).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
}

impl Role {
    /// The OpenAI role string.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// `system` or `developer`: instructions rather than conversation.
    pub fn is_instruction(self) -> bool {
        matches!(self, Role::System | Role::Developer)
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text or parts; `None` only for an assistant message that just calls tools.
    pub content: Option<Content>,
    /// Optional participant name.
    pub name: Option<String>,
    /// Tool calls made by an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// For `tool` messages: the call this answers.
    pub tool_call_id: Option<String>,
}

/// Message content: a plain string or a list of parts.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// `"content": "…"`.
    Text(String),
    /// `"content": [{"type": "text" | "image_url", …}]`.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// All text of the content, parts joined with a newline (images are skipped).
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => {
                let texts: Vec<&str> = parts
                    .iter()
                    .filter_map(|p| match p {
                        ContentPart::Text(t) => Some(t.as_str()),
                        ContentPart::Image { .. } => None,
                    })
                    .collect();
                texts.join("\n")
            }
        }
    }
}

/// One part of a multi-part content.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// A text part.
    Text(String),
    /// An `image_url` part: an http(s) URL or a `data:` URL.
    Image {
        /// The URL as given.
        url: String,
        /// `auto` / `low` / `high`, as given.
        detail: Option<String>,
    },
}

/// A function call made by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// Call id (provider's or minted by the gateway).
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as a JSON string (OpenAI convention).
    pub arguments: String,
}

/// A function tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Function name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Option<Value>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    /// Model decides.
    Auto,
    /// No tool calls.
    None,
    /// Must call some tool.
    Required,
    /// Must call this function.
    Function(String),
}

/// Why a choice stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// Natural end or stop sequence.
    Stop,
    /// Hit the token limit.
    Length,
    /// The model called tools.
    ToolCalls,
    /// Filtered by the provider.
    ContentFilter,
}

impl FinishReason {
    /// The OpenAI string.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

/// Token usage in OpenAI terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// All prompt tokens, cache reads and writes included.
    pub prompt_tokens: u64,
    /// Generated tokens (reasoning included).
    pub completion_tokens: u64,
    /// Cache reads, counted inside `prompt_tokens`.
    pub cached_tokens: u64,
    /// Anthropic cache writes, counted inside `prompt_tokens`.
    pub cache_creation_tokens: u64,
    /// Of the cache writes, those with the 1-hour TTL (billed at 2× input).
    pub cache_creation_1h_tokens: u64,
    /// Calls billed per request (rerank's `cost_per_request`); zero for chat.
    pub billed_requests: u64,
}

impl Usage {
    /// prompt + completion.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// Response id (`chatcmpl-…` or the provider's).
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// Model as reported by the provider.
    pub model: String,
    /// One per requested choice.
    pub choices: Vec<Choice>,
    /// Token usage.
    pub usage: Usage,
}

/// One choice of a `ChatResponse`.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Position.
    pub index: u32,
    /// The assistant message.
    pub message: ResponseMessage,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// The token log probabilities in OpenAI's shape (`{"content": [...]}`), when asked
    /// for and the provider reported them.
    pub logprobs: Option<Value>,
}

/// The assistant message of a choice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseMessage {
    /// Text, `None` when the model only called tools.
    pub content: Option<String>,
    /// Tool calls.
    pub tool_calls: Vec<ToolCall>,
}

/// One streamed chunk, provider-neutral.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatChunk {
    /// Same on every chunk of a stream.
    pub id: String,
    /// Same on every chunk of a stream.
    pub created: u64,
    /// Model as reported.
    pub model: String,
    /// Deltas; empty on the usage-only chunk.
    pub choices: Vec<ChunkChoice>,
    /// Set on the usage chunk only.
    pub usage: Option<Usage>,
}

/// One choice's delta in a chunk.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkChoice {
    /// Choice position.
    pub index: u32,
    /// What is new.
    pub delta: Delta,
    /// Set on the finishing chunk.
    pub finish_reason: Option<FinishReason>,
    /// This delta's token log probabilities in OpenAI's shape, when asked for.
    pub logprobs: Option<Value>,
}

/// New content of a chunk.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delta {
    /// `Some(Role::Assistant)` on the first chunk.
    pub role: Option<Role>,
    /// Text fragment.
    pub content: Option<String>,
    /// Tool-call fragments.
    pub tool_calls: Vec<ToolCallDelta>,
}

impl Delta {
    /// The first delta of a stream: role `assistant`, empty content.
    pub fn start() -> Delta {
        Delta {
            role: Some(Role::Assistant),
            content: Some(String::new()),
            tool_calls: Vec::new(),
        }
    }

    /// A text fragment.
    pub fn text(text: String) -> Delta {
        Delta {
            content: Some(text),
            ..Delta::default()
        }
    }
}

/// A fragment of a tool call: id and name come with the first fragment only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCallDelta {
    /// Which tool call of the message (0, 1, …).
    pub index: u32,
    /// Call id (first fragment).
    pub id: Option<String>,
    /// Function name (first fragment).
    pub name: Option<String>,
    /// Arguments fragment.
    pub arguments: Option<String>,
}

impl ChatChunk {
    /// A chunk with one choice at index 0.
    pub fn single(id: &str, created: u64, model: &str, choice: ChunkChoice) -> ChatChunk {
        ChatChunk {
            id: id.to_string(),
            created,
            model: model.to_string(),
            choices: vec![choice],
            usage: None,
        }
    }

    /// The usage-only chunk (`choices: []`).
    pub fn usage_only(id: &str, created: u64, model: &str, usage: Usage) -> ChatChunk {
        ChatChunk {
            id: id.to_string(),
            created,
            model: model.to_string(),
            choices: Vec::new(),
            usage: Some(usage),
        }
    }

    /// True for the chunk that only reports usage.
    pub fn is_usage_only(&self) -> bool {
        self.choices.is_empty() && self.usage.is_some()
    }
}

/// Why a client request was refused before reaching any provider (HTTP 400).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// Human-readable reason.
    pub message: String,
    /// The offending parameter (`messages[2].content`), when there is one.
    pub param: Option<String>,
}

impl RequestError {
    /// An error about one parameter.
    pub fn param(param: impl Into<String>, message: impl Into<String>) -> RequestError {
        RequestError {
            message: message.into(),
            param: Some(param.into()),
        }
    }
}

mod chunk_sse;
mod render;

#[cfg(test)]
mod tests;
