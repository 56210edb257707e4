//! OpenAI stream events written by hand. A stream renders one `chat.completion.chunk`
//! per provider event; through serde every constant key was escaped again on every
//! event, which cost more than the rest of the event's rendering. The bytes equal
//! serialising [`ChatChunk::to_openai`] (pinned by the test below).

use super::{ChatChunk, ChunkChoice, ToolCallDelta, Usage};

impl ChatChunk {
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
    out.extend_from_slice(b",\"logprobs\":");
    match &c.logprobs {
        // A Value always serialises; its map keys are sorted like every other object here.
        Some(logprobs) => out.extend_from_slice(logprobs.to_string().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
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
    use super::super::{Delta, FinishReason, Role};
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
            logprobs: None,
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
                        logprobs: None,
                    },
                    ChunkChoice {
                        index: 8,
                        delta: Delta::text("Hi".into()),
                        finish_reason: None,
                        logprobs: Some(serde_json::json!({"content": [{"token": "Hi",
                            "logprob": -0.25, "bytes": [72, 105], "top_logprobs": []}],
                            "refusal": null})),
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
}
