//! What the simulated model "says": the accepted request and the provider-neutral reply.
//!
//! Provider modules turn a request into an [`Accepted`] (after all their checks), the
//! dispatcher turns it and the fault, if any, into a [`Reply`], and the provider module renders
//! that reply in its own wire format. Token counts are fixed here, once, so streamed and
//! non-streamed answers agree.

use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::Value;

use super::tokens;

/// A request that passed every check of its provider.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Model id as the client sent it (Gemini: from the URL).
    pub model: String,
    /// Model id the provider reports back (snapshot, resolved alias, `modelVersion`).
    pub response_model: String,
    /// The client asked for a stream.
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
    /// Gemini `alt=sse` (otherwise a stream is one JSON array).
    pub sse: bool,
    /// Output cap the client asked for.
    pub max_tokens: Option<u32>,
    /// Prompt tokens, counted by the provider module.
    pub prompt_tokens: u32,
    /// Text of the last user turn, quoted in the reply.
    pub user_text: String,
    /// Log probabilities asked for, with this many alternatives per token.
    pub logprobs: Option<u32>,
    /// A tool the request forces (Anthropic `tool_choice: {type: tool}`): its name and
    /// input schema. The reply is then that call and nothing else.
    pub forced_tool: Option<(String, Value)>,
}

/// Why the reply ended, in neutral terms; each provider names it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Natural end.
    Stop,
    /// Cut by the output cap.
    Length,
    /// The reply is a tool call.
    ToolCall,
    /// Refused / blocked by a safety filter.
    ContentFilter,
}

/// A tool call the model makes instead of (or after) text.
#[derive(Debug, Clone)]
pub struct ToolCallReply {
    /// Provider-style id (empty for Gemini, which has none).
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments object.
    pub arguments: Value,
}

/// The simulated reply: text pieces (one token each), an optional tool call and usage.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Text pieces; concatenated they are the reply text.
    pub pieces: Vec<String>,
    /// Tool call, when the model calls one.
    pub tool: Option<ToolCallReply>,
    /// Why it ended.
    pub finish: Finish,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Completion tokens (pieces plus the tool call's size).
    pub completion_tokens: u32,
}

impl Reply {
    /// The ordinary text reply, cut to `max_tokens` pieces.
    pub fn text(provider: &str, accepted: &Accepted) -> Self {
        let text = tokens::reply_text(provider, &accepted.model, &accepted.user_text);
        let mut pieces = tokens::pieces(&text);
        let mut finish = Finish::Stop;
        if let Some(cap) = accepted.max_tokens {
            let cap = usize::try_from(cap).unwrap_or(usize::MAX);
            if pieces.len() > cap {
                pieces.truncate(cap);
                finish = Finish::Length;
            }
        }
        Self::from_parts(pieces, None, finish, accepted.prompt_tokens)
    }

    /// A tool call, optionally preceded by a short text (as Claude often does).
    pub fn tool_call(accepted: &Accepted, tool: ToolCallReply, preface: Option<&str>) -> Self {
        let pieces = preface.map(tokens::pieces).unwrap_or_default();
        Self::from_parts(pieces, Some(tool), Finish::ToolCall, accepted.prompt_tokens)
    }

    /// A refusal / safety block with no content.
    pub fn filtered(accepted: &Accepted) -> Self {
        Self::from_parts(
            Vec::new(),
            None,
            Finish::ContentFilter,
            accepted.prompt_tokens,
        )
    }

    fn from_parts(
        pieces: Vec<String>,
        tool: Option<ToolCallReply>,
        finish: Finish,
        prompt_tokens: u32,
    ) -> Self {
        let tool_tokens = tool.as_ref().map_or(0, |t| {
            tokens::text_tokens(&t.name) + tokens::text_tokens(&t.arguments.to_string())
        });
        let piece_count = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
        Self {
            completion_tokens: piece_count + tool_tokens,
            pieces,
            tool,
            finish,
            prompt_tokens,
        }
    }

    /// The whole reply text.
    pub fn joined(&self) -> String {
        self.pieces.concat()
    }

    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u32 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// `n` random ASCII letters and digits (ids; replies themselves stay deterministic).
pub fn random_alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// Seconds since the epoch, for `created` fields.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Splits a string into at most `parts` non-empty fragments on char boundaries.
pub fn fragments(text: &str, parts: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(parts.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(max_tokens: Option<u32>) -> Accepted {
        Accepted {
            model: "m".into(),
            response_model: "m".into(),
            stream: false,
            include_usage: false,
            sse: false,
            max_tokens,
            prompt_tokens: 10,
            user_text: "hello there".into(),
            logprobs: None,
            forced_tool: None,
        }
    }

    #[test]
    fn max_tokens_cuts_the_reply_and_says_length() {
        let full = Reply::text("openai", &accepted(None));
        assert_eq!(full.finish, Finish::Stop);
        let cut = Reply::text("openai", &accepted(Some(2)));
        assert_eq!(cut.finish, Finish::Length);
        assert_eq!(cut.completion_tokens, 2);
        assert_eq!(cut.joined(), "[simulated openai");
        assert!(full.completion_tokens > 2);
    }

    #[test]
    fn fragments_rejoin() {
        let parts = fragments("{\"city\":\"Paris\"}", 3);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), "{\"city\":\"Paris\"}");
    }
}
