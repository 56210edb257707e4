//! Test helpers shared by the adapters' unit tests: a rich client request and a way to
//! push a canned SSE body through a translator exactly as the HTTP driver does.

use serde_json::json;

use super::http::EventTranslator;
use super::sse::SseParser;
use super::types::{ChatChunk, ChatRequest};
use super::UpstreamError;

/// System + developer instructions, a tool round trip, an image, tools and sampling knobs.
pub(crate) fn rich_request() -> ChatRequest {
    let body = json!({
        "model": "client-model",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "name": "ann", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_abc123", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_abc123", "content": "{\"temp_c\":21}"},
            {"role": "assistant", "content": "21°C."},
            {"role": "user", "content": [
                {"type": "text", "text": "And this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather",
            "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": ["string", "null"], "const": "c"}},
                "required": ["city"], "additionalProperties": false}}}],
        "tool_choice": "auto",
        "temperature": 1.0, "top_p": 0.9, "max_tokens": 100, "stop": ["END"],
        "seed": 42, "user": "u-1", "presence_penalty": 0.5, "frequency_penalty": 0.25,
        "n": 1, "parallel_tool_calls": false, "stream_options": {"include_usage": true}
    });
    ChatRequest::parse(body.to_string().as_bytes()).expect("rich request is valid")
}

/// Parse `body` as SSE and translate it, finishing like the HTTP driver does.
pub(crate) fn translate<T: EventTranslator>(
    mut t: T,
    body: &str,
) -> Vec<Result<ChatChunk, UpstreamError>> {
    let mut parser = SseParser::new();
    let mut events = parser.feed(body.as_bytes());
    events.extend(parser.finish());
    let mut out = Vec::new();
    for ev in events {
        if let Some(piece) = t.quick(&ev.as_event()) {
            out.push(Ok(piece.into_chunk()));
            continue;
        }
        match t.chunk_from_event(&ev.as_event()) {
            Ok(chunks) => out.extend(chunks.into_iter().map(Ok)),
            Err(e) => {
                out.push(Err(e));
                return out;
            }
        }
        if t.is_done() {
            break;
        }
    }
    match t.finish() {
        Ok(chunks) => out.extend(chunks.into_iter().map(Ok)),
        Err(e) => out.push(Err(e)),
    }
    out
}

/// `body` as JSON, after checking its bytes are what a `Value` of the same fields gives
/// (sorted keys): a typed upstream body must send what the `Value` it replaced sent.
pub(crate) fn sorted_json(body: &impl serde::Serialize) -> serde_json::Value {
    let text = serde_json::to_string(body).expect("serializes");
    let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(text, value.to_string());
    value
}

/// The text content of a translated stream, concatenated.
pub(crate) fn streamed_text(items: &[Result<ChatChunk, UpstreamError>]) -> String {
    items
        .iter()
        .flatten()
        .flat_map(|c| c.choices.iter().filter_map(|ch| ch.delta.content.clone()))
        .collect()
}
