//! Faults: queued misbehaviours a test (or `/_sim/faults`) asks the simulator for.
//!
//! Only the data and its matching rule live here; `dispatch.rs` decides what each kind does to
//! an answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SimProvider;

/// A queued misbehaviour, consumed by the next `times` matching (and otherwise valid) requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Only requests to this provider (any when `None`).
    #[serde(default)]
    pub provider: Option<SimProvider>,
    /// Only requests for this model id, as sent (any when `None`).
    #[serde(default)]
    pub model: Option<String>,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub times: u32,
    /// What happens.
    pub kind: FaultKind,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// Whether this fault applies to a request for `model` at `provider`.
    pub(super) fn matches(&self, provider: SimProvider, model: &str) -> bool {
        self.times > 0
            && self.provider.is_none_or(|p| p == provider)
            && self.model.as_deref().is_none_or(|m| m == model)
    }
}

/// The behaviours a [`Fault`] can inject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The provider's own error JSON for `status` (+ `retry-after` / Gemini `RetryInfo`).
    Status {
        /// HTTP status, e.g. 429, 500, 503, 529.
        status: u16,
        /// Seconds to advertise for a retry.
        retry_after_s: Option<u32>,
    },
    /// Wait before the first byte, then answer normally.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Wait between stream events (no effect on non-streamed calls).
    StreamDelay {
        /// Milliseconds.
        ms: u64,
    },
    /// End the stream after this many events, without its terminator. A non-streamed call
    /// gets a 200 whose JSON body is cut in half.
    CutStream {
        /// Events sent before the cut (capped so the terminator is never sent).
        after_events: usize,
    },
    /// Start the stream, then send the provider's in-stream error event (non-streamed: a 500).
    InStreamError,
    /// A 200 with a non-JSON body.
    Garbage,
    /// Call this tool instead of answering with text.
    ToolCall {
        /// Function name.
        name: String,
        /// Arguments object.
        arguments: Value,
    },
    /// Anthropic `refusal`, Gemini `promptFeedback.blockReason`, OpenAI `content_filter`
    /// (Mistral has no such finish and answers normally).
    ContentFilter,
}
