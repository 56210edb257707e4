//! Fake OpenAI Responses API (`POST /openai/v1/responses`, PROVIDERS §10): checks the
//! key, the model and the shape of `input`, and answers a response object or the event
//! sequence with `sequence_number` (created, in_progress, output_item.added,
//! content_part.added, output_text.delta…, .done events, completed with both usage
//! details), as Codex parses them. Tool calls are not simulated here.

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::{json, Value};

use super::dispatch::Incoming;
use super::errors::Rejection;
use super::reply::{random_alnum, Accepted, Finish, Reply};
use super::{openai, tokens, ReceivedRequest, SimProvider, Simulator};

/// Every text the request carries, and the last user text.
fn texts(body: &Value) -> (Vec<String>, String) {
    let mut all = Vec::new();
    let mut last_user = String::new();
    if let Some(i) = body["instructions"].as_str() {
        all.push(i.to_string());
    }
    match &body["input"] {
        Value::String(s) => {
            all.push(s.clone());
            last_user = s.clone();
        }
        Value::Array(items) => {
            for item in items {
                let text = tokens::collect_text(&item["content"])
                    + item["output"].as_str().unwrap_or_default()
                    + item["arguments"].as_str().unwrap_or_default();
                if item["role"] == "user" {
                    last_user = text.clone();
                }
                all.push(text);
            }
        }
        _ => {}
    }
    (all, last_user)
}

fn accept(inc: &Incoming) -> Result<Accepted, Rejection> {
    openai::check_auth(inc)?;
    let body = inc.body.ok_or_else(|| {
        Rejection::openai_invalid(
            "We could not parse the JSON body of your request.",
            None,
            None,
        )
    })?;
    let model = body["model"].as_str().ok_or_else(|| {
        Rejection::openai_invalid("Missing required parameter: 'model'.", Some("model"), None)
    })?;
    let (_, snapshot, _) = openai::MODELS
        .iter()
        .find(|(id, _, _)| *id == model)
        .ok_or_else(|| {
            Rejection::openai(
                404,
                &format!("The model `{model}` does not exist or you do not have access to it."),
                "invalid_request_error",
                None,
                Some("model_not_found"),
            )
        })?;
    if !(body["input"].is_string() || body["input"].is_array()) {
        return Err(Rejection::openai_invalid(
            "Missing required parameter: 'input'.",
            Some("input"),
            None,
        ));
    }
    let (all, user_text) = texts(body);
    Ok(Accepted {
        model: model.to_string(),
        response_model: snapshot.to_string(),
        stream: body["stream"] == Value::Bool(true),
        include_usage: true,
        sse: true,
        max_tokens: body["max_output_tokens"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok()),
        prompt_tokens: tokens::prompt_tokens(all.iter().map(String::as_str)),
        user_text,
        logprobs: None,
        forced_tool: None,
    })
}

fn usage(reply: &Reply) -> Value {
    json!({"input_tokens": reply.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
           "output_tokens": reply.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
           "total_tokens": reply.prompt_tokens + reply.completion_tokens})
}

fn response(id: &str, a: &Accepted, status: &str, output: Value, usage: Value) -> Value {
    json!({"id": id, "object": "response", "created_at": super::reply::now_unix(), "status": status, "model": a.response_model,
           "output": output, "usage": usage, "error": null, "incomplete_details": null, "parallel_tool_calls": true,
           "tool_choice": "auto", "tools": []})
}

pub(super) async fn create(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    raw: Bytes,
) -> HttpResponse {
    let body: Option<Value> = serde_json::from_slice(&raw).ok();
    sim.record(ReceivedRequest {
        provider: SimProvider::OpenAi,
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers: super::dispatch::header_list(&req),
        body: body.clone().unwrap_or(Value::Null),
        stream: body
            .as_ref()
            .is_some_and(|b| b["stream"] == Value::Bool(true)),
    });
    let inc = Incoming {
        req: &req,
        body: body.as_ref(),
        api_key: &sim.0.config.api_key,
    };
    let accepted = match accept(&inc) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let reply = Reply::text("openai", &accepted);
    let (id, msg_id) = (
        format!("resp_{}", random_alnum(24)),
        format!("msg_{}", random_alnum(24)),
    );
    let text = reply.joined();
    let status = if reply.finish == Finish::Length {
        "incomplete"
    } else {
        "completed"
    };
    let part = json!({"type": "output_text", "text": text, "annotations": []});
    let item = json!({"type": "message", "id": msg_id, "role": "assistant", "status": "completed", "content": [part]});
    if !accepted.stream {
        return HttpResponse::Ok().json(response(
            &id,
            &accepted,
            status,
            json!([item]),
            usage(&reply),
        ));
    }
    let mut events = vec![
        json!({"type": "response.created", "response": response(&id, &accepted, "in_progress", json!([]), Value::Null)}),
        json!({"type": "response.in_progress", "response": response(&id, &accepted, "in_progress", json!([]), Value::Null)}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": msg_id, "role": "assistant", "status": "in_progress", "content": []}}),
        json!({"type": "response.content_part.added", "item_id": msg_id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
    ];
    for piece in &reply.pieces {
        events.push(json!({"type": "response.output_text.delta", "item_id": msg_id, "output_index": 0, "content_index": 0, "delta": piece, "logprobs": [], "obfuscation": random_alnum(8)}));
    }
    events.push(json!({"type": "response.output_text.done", "item_id": msg_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}));
    events.push(json!({"type": "response.content_part.done", "item_id": msg_id, "output_index": 0, "content_index": 0, "part": part}));
    events.push(json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    let done = if status == "completed" {
        "response.completed"
    } else {
        "response.incomplete"
    };
    events.push(json!({"type": done, "response": response(&id, &accepted, status, json!([item]), usage(&reply))}));
    let mut out = String::new();
    for (seq, mut e) in events.into_iter().enumerate() {
        e["sequence_number"] = seq.into();
        out.push_str(&format!(
            "event: {}\ndata: {}\n\n",
            e["type"].as_str().unwrap_or_default(),
            e
        ));
    }
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .body(out)
}
