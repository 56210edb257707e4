//! Fake Gemini generateContent (`POST /gemini/v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent`, SSE with `?alt=sse`, one JSON array without).
//!
//! Checks the API key (header or `?key=`; Bearer is refused), the model in the URL and the body
//! (in `gemini_checks.rs`), then answers with candidates, `usageMetadata` and `modelVersion`
//! (PROVIDERS.md §1, §3, §4, §6, §7). No grounding, caching or multi-candidate replies.

use bytes::Bytes;
use serde_json::{json, Value};

use super::dispatch::Incoming;
use super::errors::Rejection;
use super::gemini_checks;
use super::reply::{self, Accepted, Finish, Reply};
use super::stream::Framed;
use super::tokens;

/// Known models: (id in the URL, `modelVersion` reported back, max output tokens).
pub(super) const MODELS: &[(&str, &str, u64)] = &[
    ("gemini-2.5-pro", "gemini-2.5-pro", 65_536),
    ("gemini-2.5-flash", "gemini-2.5-flash", 65_536),
    ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite", 65_536),
    ("gemini-2.0-flash", "gemini-2.0-flash-001", 8192),
    ("gemini-2.0-flash-001", "gemini-2.0-flash-001", 8192),
    ("gemini-1.5-pro", "gemini-1.5-pro-002", 8192),
    ("gemini-1.5-pro-002", "gemini-1.5-pro-002", 8192),
    ("gemini-1.5-flash", "gemini-1.5-flash-002", 8192),
];

/// Text pieces per streamed chunk ("each chunk carries a few words").
const PIECES_PER_CHUNK: usize = 3;

/// Whether the path asks for `:streamGenerateContent`.
pub fn is_stream_path(path: &str) -> bool {
    path.ends_with(":streamGenerateContent")
}

/// Checks a request the way the Generative Language API does.
pub fn accept(inc: &Incoming) -> Result<Accepted, Rejection> {
    check_auth(inc)?;
    let model_action = inc.req.match_info().get("model_action").unwrap_or("");
    let (model, action) = model_action.split_once(':').unwrap_or((model_action, ""));
    if action != "generateContent" && action != "streamGenerateContent" {
        let message = format!("Method not found: {action}");
        return Err(Rejection::gemini(404, "NOT_FOUND", &message, None));
    }
    let (_, version, cap) = MODELS.iter().find(|(id, _, _)| *id == model).ok_or_else(|| {
        let message = format!("models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.");
        Rejection::gemini(404, "NOT_FOUND", &message, None)
    })?;
    let body = inc.body.and_then(Value::as_object).ok_or_else(|| {
        Rejection::gemini_invalid("Invalid JSON payload received. Unexpected token.")
    })?;
    let checked = gemini_checks::check_body(body, *cap)?;
    let mut texts: Vec<String> = checked
        .system
        .map(tokens::collect_text)
        .into_iter()
        .collect();
    texts.extend(checked.contents.iter().map(tokens::collect_text));
    texts.extend(checked.tools.map(Value::to_string));
    Ok(Accepted {
        model: model.to_string(),
        response_model: (*version).to_string(),
        stream: action == "streamGenerateContent",
        include_usage: false,
        sse: inc.query("alt") == Some("sse"),
        max_tokens: checked.max_output_tokens,
        prompt_tokens: tokens::prompt_tokens(texts.iter().map(String::as_str)),
        user_text: last_user_text(checked.contents),
        logprobs: checked.logprobs,
        forced_tool: None,
    })
}

pub(super) fn check_auth(inc: &Incoming) -> Result<(), Rejection> {
    if inc.bearer().is_some() {
        let message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
        let details = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED", "domain": "googleapis.com"}]);
        return Err(Rejection::gemini(
            401,
            "UNAUTHENTICATED",
            message,
            Some(details),
        ));
    }
    let key = inc.header("x-goog-api-key").or_else(|| inc.query("key"));
    match key {
        None => {
            let message = "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
            Err(Rejection::gemini(403, "PERMISSION_DENIED", message, None))
        }
        Some(key) if key != inc.api_key => {
            let details = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]);
            Err(Rejection::gemini(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                Some(details),
            ))
        }
        Some(_) => Ok(()),
    }
}

fn last_user_text(contents: &[Value]) -> String {
    contents
        .iter()
        .rev()
        .find(|c| c.get("role").and_then(Value::as_str).unwrap_or("user") == "user")
        .and_then(|c| c.get("parts"))
        .map(tokens::collect_text)
        .unwrap_or_default()
}

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop | Finish::ToolCall => "STOP",
        Finish::Length => "MAX_TOKENS",
        Finish::ContentFilter => "SAFETY",
    }
}

fn usage(prompt: u32, candidates: u32) -> Value {
    let mut usage = json!({"promptTokenCount": prompt, "totalTokenCount": prompt + candidates});
    if candidates > 0 {
        usage["candidatesTokenCount"] = json!(candidates);
    }
    usage
}

fn response(
    accepted: &Accepted,
    response_id: &str,
    parts: Vec<Value>,
    finish: Option<Finish>,
    used: u32,
    prompt: u32,
) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(finish) = finish {
        candidate["finishReason"] = json!(finish_reason(finish));
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage(prompt, used),
        "modelVersion": accepted.response_model,
        "responseId": response_id
    })
}

fn blocked(accepted: &Accepted, response_id: &str, prompt: u32) -> Value {
    json!({
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]},
        "usageMetadata": usage(prompt, 0),
        "modelVersion": accepted.response_model,
        "responseId": response_id
    })
}

fn function_call_part(reply: &Reply) -> Option<Value> {
    let tool = reply.tool.as_ref()?;
    Some(json!({"functionCall": {"name": tool.name, "args": tool.arguments}}))
}

/// The non-streamed `GenerateContentResponse`.
pub fn body(accepted: &Accepted, reply: &Reply) -> Value {
    let response_id = reply::random_alnum(22);
    if reply.finish == Finish::ContentFilter {
        return blocked(accepted, &response_id, reply.prompt_tokens);
    }
    let mut parts = Vec::new();
    if !reply.pieces.is_empty() {
        parts.push(json!({"text": reply.joined()}));
    }
    parts.extend(function_call_part(reply));
    let mut body = response(
        accepted,
        &response_id,
        parts,
        Some(reply.finish),
        reply.completion_tokens,
        reply.prompt_tokens,
    );
    with_logprobs(&mut body, accepted, &reply.pieces);
    body
}

/// The candidate's `logprobsResult` for `pieces`, when the request asked for them.
fn with_logprobs(response: &mut Value, accepted: &Accepted, pieces: &[String]) {
    if let (Some(top), Some(candidate)) = (accepted.logprobs, response.pointer_mut("/candidates/0"))
    {
        candidate["logprobsResult"] = super::logprobs::gemini(pieces, top);
    }
}

/// The streamed responses: a few words per chunk, running usage on each, `finishReason` last.
pub fn framed(accepted: &Accepted, reply: &Reply) -> Framed {
    let response_id = reply::random_alnum(22);
    let mut chunks = Vec::new();
    if reply.finish == Finish::ContentFilter {
        chunks.push(blocked(accepted, &response_id, reply.prompt_tokens));
    } else {
        let groups: Vec<&[String]> = reply.pieces.chunks(PIECES_PER_CHUNK).collect();
        let mut used = 0;
        for (i, group) in groups.iter().enumerate() {
            used += u32::try_from(group.len()).unwrap_or(u32::MAX);
            let last = i + 1 == groups.len() && reply.tool.is_none();
            let finish = last.then_some(reply.finish);
            let used_now = if last { reply.completion_tokens } else { used };
            let mut chunk = response(
                accepted,
                &response_id,
                vec![json!({"text": group.concat()})],
                finish,
                used_now,
                reply.prompt_tokens,
            );
            with_logprobs(&mut chunk, accepted, group);
            chunks.push(chunk);
        }
        if let Some(part) = function_call_part(reply) {
            chunks.push(response(
                accepted,
                &response_id,
                vec![part],
                Some(reply.finish),
                reply.completion_tokens,
                reply.prompt_tokens,
            ));
        }
    }
    let error = json!({"error": {"code": 500, "message": "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", "status": "INTERNAL"}});
    if accepted.sse {
        Framed {
            events: chunks.iter().map(sse_event).collect(),
            error_event: sse_event(&error),
            content_type: "text/event-stream",
        }
    } else {
        Framed {
            events: array_pieces(&chunks),
            error_event: Bytes::from(format!(",\r\n{error}]")),
            content_type: "application/json",
        }
    }
}

fn sse_event(chunk: &Value) -> Bytes {
    Bytes::from(format!("data: {chunk}\r\n\r\n"))
}

/// The non-SSE stream: one JSON array, `[{…},\r\n{…}]`, sent one element at a time.
fn array_pieces(chunks: &[Value]) -> Vec<Bytes> {
    let count = chunks.len();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let open = if i == 0 { "[" } else { ",\r\n" };
            let close = if i + 1 == count { "]" } else { "" };
            Bytes::from(format!("{open}{chunk}{close}"))
        })
        .collect()
}
