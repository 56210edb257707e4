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
    logprobs: Option<()>,
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
    logprobs: Option<()>,
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
        logprobs: None,
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
                logprobs: None,
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

    /// Appends the chunk as one SSE event (`data: {…}\n\n`), byte for byte what
    /// serialising [`ChatChunk::to_openai`] gives, but written by hand: a stream writes
    /// one of these per event, and escaping every constant key through serde cost more
    /// than the rest of the event's rendering.
    pub fn write_openai_sse(&self, include_usage: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: {\"choices\":[");
        for (i, c) in self.choices.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_chunk_choice(c, out);
        }
        out.extend_from_slice(b"],\"created\":");
        write_u64(self.created, out);
        out.extend_from_slice(b",\"id\":");
        write_str(&self.id, out);
        out.extend_from_slice(b",\"model\":");
        write_str(&self.model, out);
        out.extend_from_slice(b",\"object\":\"chat.completion.chunk\"");
        if include_usage {
            out.extend_from_slice(b",\"usage\":");
            match &self.usage {
                Some(u) => write_usage(u, out),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.extend_from_slice(b"}\n\n");
    }

    /// OpenAI's `chat.completion.chunk` as a `Value` (see [`ChatChunk::to_openai`]).
    pub fn to_openai_json(&self, include_usage: bool) -> Value {
        serde_json::to_value(self.to_openai(include_usage)).unwrap_or(Value::Null)
    }
}

/// A JSON string, escaped as serde_json escapes it.
fn write_str(text: &str, out: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

fn write_u64(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn write_usage(u: &Usage, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"completion_tokens\":");
    write_u64(u.completion_tokens, out);
    out.extend_from_slice(b",\"prompt_tokens\":");
    write_u64(u.prompt_tokens, out);
    out.extend_from_slice(b",\"prompt_tokens_details\":{\"cached_tokens\":");
    write_u64(u.cached_tokens, out);
    out.extend_from_slice(b"},\"total_tokens\":");
    write_u64(u.total(), out);
    out.push(b'}');
}

fn write_chunk_choice(c: &ChunkChoice, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"delta\":{");
    let mut first = true;
    let mut key = |name: &[u8], out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        out.extend_from_slice(name);
    };
    if let Some(content) = &c.delta.content {
        key(b"\"content\":", out);
        write_str(content, out);
    }
    if let Some(role) = c.delta.role {
        key(b"\"role\":", out);
        write_str(role.as_str(), out);
    }
    if !c.delta.tool_calls.is_empty() {
        key(b"\"tool_calls\":[", out);
        for (i, d) in c.delta.tool_calls.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_tool_delta(d, out);
        }
        out.push(b']');
    }
    out.extend_from_slice(b"},\"finish_reason\":");
    match c.finish_reason {
        Some(f) => write_str(f.as_str(), out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"index\":");
    write_u64(u64::from(c.index), out);
    out.extend_from_slice(b",\"logprobs\":null}");
}

fn write_tool_delta(d: &ToolCallDelta, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"function\":{");
    if let Some(arguments) = &d.arguments {
        out.extend_from_slice(b"\"arguments\":");
        write_str(arguments, out);
    }
    if let Some(name) = &d.name {
        if d.arguments.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"name\":");
        write_str(name, out);
    }
    out.extend_from_slice(b"},");
    if let Some(id) = &d.id {
        out.extend_from_slice(b"\"id\":");
        write_str(id, out);
        out.push(b',');
    }
    out.extend_from_slice(b"\"index\":");
    write_u64(u64::from(d.index), out);
    if d.id.is_some() {
        out.extend_from_slice(b",\"type\":\"function\"");
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::super::{Choice, Delta, FinishReason, ResponseMessage, Role};
    use super::super::{ChunkChoice, ToolCallDelta};
    use super::*;

    /// The hand-written SSE event equals serde's rendering of the same chunk.
    #[test]
    fn hand_written_chunk_events_equal_the_serde_rendering() {
        let tool =
            |index, id: Option<&str>, name: Option<&str>, arguments: Option<&str>| ToolCallDelta {
                index,
                id: id.map(str::to_string),
                name: name.map(str::to_string),
                arguments: arguments.map(str::to_string),
            };
        let choice = |delta: Delta, finish_reason| ChunkChoice {
            index: 0,
            delta,
            finish_reason,
        };
        let chunks = vec![
            ChatChunk::single(
                "chatcmpl-1",
                1_767_225_600,
                "gpt-4o",
                choice(Delta::start(), None),
            ),
            ChatChunk::single(
                "id \"quoted\" \\ é 你好\n",
                0,
                "m\u{1}",
                choice(
                    Delta {
                        content: Some("Hi \"there\"\n\t\u{7f}😀".into()),
                        ..Delta::default()
                    },
                    Some(FinishReason::Length),
                ),
            ),
            ChatChunk::single(
                "c",
                5,
                "m",
                choice(
                    Delta {
                        role: Some(Role::Assistant),
                        content: None,
                        tool_calls: vec![
                            tool(0, Some("call_1"), Some("get_weather"), Some("")),
                            tool(1, None, None, Some("{\"city\":")),
                            tool(2, Some("call_3"), Some("f"), None),
                            tool(3, None, Some("only_name"), None),
                            tool(4, None, None, None),
                        ],
                    },
                    Some(FinishReason::ToolCalls),
                ),
            ),
            ChatChunk::usage_only(
                "c",
                5,
                "m",
                Usage {
                    prompt_tokens: 12,
                    completion_tokens: 3,
                    cached_tokens: 4,
                    ..Usage::default()
                },
            ),
            ChatChunk {
                id: String::new(),
                created: u64::MAX,
                model: String::new(),
                choices: vec![
                    choice(Delta::default(), Some(FinishReason::Stop)),
                    ChunkChoice {
                        index: 7,
                        delta: Delta::default(),
                        finish_reason: Some(FinishReason::ContentFilter),
                    },
                ],
                usage: None,
            },
        ];
        for chunk in &chunks {
            for include_usage in [false, true] {
                let mut written = Vec::new();
                chunk.write_openai_sse(include_usage, &mut written);
                let serde = crate::proxy::sse::encode_serialized(&chunk.to_openai(include_usage));
                assert_eq!(
                    String::from_utf8_lossy(&written),
                    String::from_utf8_lossy(&serde),
                    "{chunk:?} include_usage={include_usage}"
                );
            }
        }
    }

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
