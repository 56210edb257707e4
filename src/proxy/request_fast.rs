//! The fast path of request parsing: the common shape of a chat request (model, plain
//! text messages, stream, token limit, temperature, top_p) read straight into typed
//! structs, with no `serde_json::Value` tree.
//!
//! It only ever accepts what the full parser (`request.rs`) accepts, with the same
//! result: any other field, any other shape, any value the full parser would refuse
//! makes it step aside (`None`), and the full parser then runs and gives its precise
//! error. `request_tests` checks both paths agree.

use std::borrow::Cow;

use serde::Deserialize;

use super::types::{ChatRequest, Content, Message, Role};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Simple<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<SimpleMessage<'a>>,
    stream: Option<bool>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimpleMessage<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    content: Cow<'a, str>,
}

/// The request, when it has the simple shape and is valid; `None` otherwise.
pub(super) fn parse_simple(body: &[u8]) -> Option<ChatRequest> {
    let s: Simple<'_> = serde_json::from_slice(body).ok()?;
    let in_range = |v: Option<f64>, hi: f64| v.is_none_or(|x| (0.0..=hi).contains(&x));
    let positive = |v: Option<u32>| v.is_none_or(|n| n >= 1);
    if s.model.is_empty()
        || s.messages.is_empty()
        || !positive(s.max_tokens)
        || !positive(s.max_completion_tokens)
        || !in_range(s.temperature, 2.0)
        || !in_range(s.top_p, 1.0)
    {
        return None;
    }
    let messages = s
        .messages
        .into_iter()
        .map(|m| {
            let role = match m.role.as_ref() {
                "system" => Role::System,
                "developer" => Role::Developer,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                _ => return None,
            };
            Some(Message {
                role,
                content: Some(Content::Text(m.content.into_owned())),
                name: None,
                tool_calls: Vec::new(),
                tool_call_id: None,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ChatRequest {
        model: s.model.into_owned(),
        messages,
        stream: s.stream.unwrap_or(false),
        include_usage: false,
        max_tokens: s.max_completion_tokens.or(s.max_tokens),
        temperature: s.temperature,
        top_p: s.top_p,
        stop: Vec::new(),
        n: None,
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        user: None,
        response_format: None,
        tools: Vec::new(),
        tool_choice: None,
        parallel_tool_calls: None,
        logprobs: false,
        top_logprobs: None,
    })
}
