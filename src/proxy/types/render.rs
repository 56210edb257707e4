//! OpenAI's JSON rendering of the canonical answers, serialised straight from borrowed
//! structs. Building a `serde_json::Value` tree first (a sorted map per object, every
//! string copied, then dropped) cost more than the rest of the response path. Fields
//! are declared in sorted order, so the bytes equal the `Value` rendering's.

use serde::Serialize;
use serde_json::Value;

use super::{ChatChunk, ChatResponse, ChunkChoice, ToolCall, ToolCallDelta, Usage};

#[derive(Serialize)]
struct UsageOut {
    completion_tokens: u64,
    prompt_tokens: u64,
    prompt_tokens_details: CachedOut,
    total_tokens: u64,
}

#[derive(Serialize)]
struct CachedOut {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct CompletionOut<'a> {
    choices: Vec<ChoiceOut<'a>>,
    created: u64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
    usage: UsageOut,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    finish_reason: &'static str,
    index: u32,
    logprobs: Option<&'a Value>,
    message: MessageOut<'a>,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    content: Option<&'a str>,
    refusal: Option<()>,
    role: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    function: FunctionOut<'a>,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct ChunkOut<'a> {
    choices: Vec<ChunkChoiceOut<'a>>,
    created: u64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
    /// Absent without `include_usage`; null on every chunk but the usage one with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<UsageOut>>,
}

#[derive(Serialize)]
struct ChunkChoiceOut<'a> {
    delta: DeltaOut<'a>,
    finish_reason: Option<&'static str>,
    index: u32,
    logprobs: Option<&'a Value>,
}

#[derive(Serialize)]
struct DeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolDeltaOut<'a>>,
}

#[derive(Serialize)]
struct ToolDeltaOut<'a> {
    function: FunctionOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    index: u32,
    /// `"function"` alongside the id, on the first fragment.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
}

fn usage_out(u: &Usage) -> UsageOut {
    UsageOut {
        completion_tokens: u.completion_tokens,
        prompt_tokens: u.prompt_tokens,
        prompt_tokens_details: CachedOut {
            cached_tokens: u.cached_tokens,
        },
        total_tokens: u.total(),
    }
}

fn tool_call_out(call: &ToolCall) -> ToolCallOut<'_> {
    ToolCallOut {
        function: FunctionOut {
            arguments: Some(&call.arguments),
            name: Some(&call.name),
        },
        id: &call.id,
        kind: "function",
    }
}

fn tool_delta_out(d: &ToolCallDelta) -> ToolDeltaOut<'_> {
    ToolDeltaOut {
        function: FunctionOut {
            arguments: d.arguments.as_deref(),
            name: d.name.as_deref(),
        },
        id: d.id.as_deref(),
        index: d.index,
        kind: d.id.as_ref().map(|_| "function"),
    }
}

fn chunk_choice_out(c: &ChunkChoice) -> ChunkChoiceOut<'_> {
    ChunkChoiceOut {
        delta: DeltaOut {
            content: c.delta.content.as_deref(),
            role: c.delta.role.map(|r| r.as_str()),
            tool_calls: c.delta.tool_calls.iter().map(tool_delta_out).collect(),
        },
        finish_reason: c.finish_reason.map(|f| f.as_str()),
        index: c.index,
        logprobs: c.logprobs.as_ref(),
    }
}

impl Usage {
    /// OpenAI's `usage` object.
    pub fn to_openai_json(&self) -> Value {
        serde_json::to_value(usage_out(self)).unwrap_or(Value::Null)
    }
}

impl ChatResponse {
    fn openai(&self) -> CompletionOut<'_> {
        let choices = self
            .choices
            .iter()
            .map(|c| ChoiceOut {
                finish_reason: c.finish_reason.as_str(),
                index: c.index,
                logprobs: c.logprobs.as_ref(),
                message: MessageOut {
                    content: c.message.content.as_deref(),
                    refusal: None,
                    role: "assistant",
                    tool_calls: c.message.tool_calls.iter().map(tool_call_out).collect(),
                },
            })
            .collect();
        CompletionOut {
            choices,
            created: self.created,
            id: &self.id,
            model: &self.model,
            object: "chat.completion",
            usage: usage_out(&self.usage),
        }
    }

    /// OpenAI's `chat.completion` object, as JSON text.
    pub fn to_openai_string(&self) -> String {
        serde_json::to_string(&self.openai()).unwrap_or_default()
    }

    /// OpenAI's `chat.completion` object.
    pub fn to_openai_json(&self) -> Value {
        serde_json::to_value(self.openai()).unwrap_or(Value::Null)
    }
}

impl ChatChunk {
    /// OpenAI's `chat.completion.chunk`, ready to serialise. With `include_usage`,
    /// every chunk carries `"usage"` (null except on the usage chunk); without it no
    /// chunk does.
    pub fn to_openai(&self, include_usage: bool) -> impl Serialize + '_ {
        ChunkOut {
            choices: self.choices.iter().map(chunk_choice_out).collect(),
            created: self.created,
            id: &self.id,
            model: &self.model,
            object: "chat.completion.chunk",
            usage: include_usage.then(|| self.usage.as_ref().map(usage_out)),
        }
    }

    /// OpenAI's `chat.completion.chunk` as a `Value` (see [`ChatChunk::to_openai`]).
    pub fn to_openai_json(&self, include_usage: bool) -> Value {
        serde_json::to_value(self.to_openai(include_usage)).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Choice, Delta, FinishReason, ResponseMessage, Role};
    use super::*;

    /// Direct serialisation writes fields in declaration order; a `Value` writes them
    /// sorted. Equal text proves the declarations are sorted, so clients get the same
    /// bytes as before.
    #[test]
    fn direct_rendering_matches_the_sorted_value_rendering() {
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 2,
            cached_tokens: 4,
            cache_creation_tokens: 0,
            cache_creation_1h_tokens: 0,
            ..Usage::default()
        };
        let resp = ChatResponse {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    content: Some("hi".into()),
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                    }],
                },
                finish_reason: FinishReason::ToolCalls,
                logprobs: None,
            }],
            usage,
        };
        assert_eq!(resp.to_openai_string(), resp.to_openai_json().to_string());
        let chunk = ChatChunk::single(
            "id",
            1,
            "m",
            ChunkChoice {
                index: 0,
                delta: Delta {
                    role: Some(Role::Assistant),
                    content: Some("x".into()),
                    tool_calls: vec![ToolCallDelta {
                        index: 0,
                        id: Some("c".into()),
                        name: Some("f".into()),
                        arguments: Some("{".into()),
                    }],
                },
                finish_reason: Some(FinishReason::Stop),
                logprobs: None,
            },
        );
        for include in [true, false] {
            let direct = serde_json::to_string(&chunk.to_openai(include)).unwrap();
            assert_eq!(direct, chunk.to_openai_json(include).to_string());
        }
        let last = ChatChunk::usage_only("id", 1, "m", usage);
        let direct = serde_json::to_string(&last.to_openai(true)).unwrap();
        assert_eq!(direct, last.to_openai_json(true).to_string());
    }
}
