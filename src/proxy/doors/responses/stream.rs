//! Streamed Responses answers: canonical chunks rendered as the Responses event
//! sequence with `sequence_number` (PROVIDERS §10.4: created, in_progress, an
//! `output_item.added` … `.done` per item, text and argument deltas, `completed` with
//! the usage), or an OpenAI stream passed through with its usage read from
//! `response.completed`. Either way `response.completed` leaves only once the ledger
//! row is committed (SPEC §14).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use serde_json::{json, Value};

use super::translate::{call_item, response_object, usage_json};
use crate::ledger::LedgerError;
use crate::proxy::doors::messages::RawBody;
use crate::proxy::sse::SseParser;
use crate::proxy::ticket::{Outcome, Ticket};
use crate::proxy::types::ChatChunk;
use crate::proxy::{ChunkStream, Usage};

type Commit = Pin<Box<dyn Future<Output = Result<(), LedgerError>>>>;

fn frame(out: &mut Vec<u8>, name: &str, data: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// An open output item of a translated stream.
enum Open {
    Text {
        id: String,
        text: String,
    },
    Call {
        call: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Canonical chunks → Responses events.
struct EventWriter {
    id: String,
    model: String,
    seq: u64,
    started: bool,
    open: Option<Open>,
    output: Vec<Value>,
    custom: Vec<String>,
    usage: Option<Usage>,
    length: bool,
    streamed: crate::proxy::relay::Streamed,
}

impl EventWriter {
    fn event(&mut self, out: &mut Vec<u8>, mut data: Value) {
        data["sequence_number"] = self.seq.into();
        self.seq += 1;
        let name = data["type"].as_str().unwrap_or("response").to_string();
        frame(out, &name, &data.to_string());
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let r = response_object(&self.id, &self.model, "in_progress", Vec::new(), None);
        self.event(
            out,
            json!({"type": "response.created", "response": r.clone()}),
        );
        self.event(out, json!({"type": "response.in_progress", "response": r}));
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let index = self.output.len();
        match self.open.take() {
            Some(Open::Text { id, text }) => {
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                self.event(out, json!({"type": "response.output_text.done", "item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}));
                self.event(out, json!({"type": "response.content_part.done", "item_id": id, "output_index": index, "content_index": 0, "part": part}));
                let item = json!({"type": "message", "id": id, "role": "assistant", "status": "completed", "content": [part]});
                self.event(out, json!({"type": "response.output_item.done", "output_index": index, "item": item}));
                self.output.push(item);
            }
            Some(Open::Call {
                call_id,
                name,
                arguments,
                ..
            }) => {
                let item = call_item(&call_id, &name, &arguments, &self.custom);
                if item["type"] == "function_call" {
                    self.event(out, json!({"type": "response.function_call_arguments.done", "item_id": item["id"], "output_index": index, "arguments": arguments, "name": name}));
                }
                self.event(out, json!({"type": "response.output_item.done", "output_index": index, "item": item}));
                self.output.push(item);
            }
            None => {}
        }
    }

    fn chunk(&mut self, c: &ChatChunk, out: &mut Vec<u8>) {
        self.start(out);
        if let Some(u) = c.usage {
            self.usage = Some(u);
        }
        let index = self.output.len();
        for choice in c.choices.iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
                self.streamed.add(text.chars().count() as u64);
                if !matches!(self.open, Some(Open::Text { .. })) {
                    self.close(out);
                    let id = crate::proxy::http::mint_id("msg_");
                    let index = self.output.len();
                    self.event(out, json!({"type": "response.output_item.added", "output_index": index,
                        "item": {"type": "message", "id": id, "role": "assistant", "status": "in_progress", "content": []}}));
                    self.event(out, json!({"type": "response.content_part.added", "item_id": id, "output_index": index, "content_index": 0,
                        "part": {"type": "output_text", "text": "", "annotations": []}}));
                    self.open = Some(Open::Text {
                        id,
                        text: String::new(),
                    });
                }
                let index = self.output.len();
                if let Some(Open::Text { id, text: all }) = &mut self.open {
                    all.push_str(text);
                    let id = id.clone();
                    self.event(out, json!({"type": "response.output_text.delta", "item_id": id, "output_index": index, "content_index": 0, "delta": text, "logprobs": []}));
                }
            }
            for call in &choice.delta.tool_calls {
                let same = matches!(&self.open, Some(Open::Call { call: open, .. }) if *open == call.index);
                if !same {
                    self.close(out);
                    let call_id = call
                        .id
                        .clone()
                        .unwrap_or_else(|| crate::proxy::http::mint_id("call_"));
                    let name = call.name.clone().unwrap_or_default();
                    let index = self.output.len();
                    let custom = self.custom.contains(&name);
                    let item = if custom {
                        json!({"type": "custom_tool_call", "id": format!("fc_{call_id}"), "call_id": call_id, "name": name, "input": "", "status": "in_progress"})
                    } else {
                        json!({"type": "function_call", "id": format!("fc_{call_id}"), "call_id": call_id, "name": name, "arguments": "", "status": "in_progress"})
                    };
                    self.event(out, json!({"type": "response.output_item.added", "output_index": index, "item": item}));
                    self.open = Some(Open::Call {
                        call: call.index,
                        call_id,
                        name,
                        arguments: String::new(),
                    });
                }
                if let (
                    Some(args),
                    Some(Open::Call {
                        call_id,
                        name,
                        arguments,
                        ..
                    }),
                ) = (
                    call.arguments.as_deref().filter(|a| !a.is_empty()),
                    &mut self.open,
                ) {
                    arguments.push_str(args);
                    self.streamed.add(args.chars().count() as u64);
                    if !self.custom.contains(name) {
                        let item_id = format!("fc_{call_id}");
                        let delta = json!({"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": index, "delta": args});
                        self.event(out, delta);
                    }
                }
            }
            if choice.finish_reason.is_some_and(|f| f.as_str() == "length") {
                self.length = true;
            }
        }
    }

    /// Closes every item; returns the `response.completed` event to send once committed.
    fn finish(&mut self, out: &mut Vec<u8>) -> Value {
        self.start(out);
        self.close(out);
        let u = self.usage.unwrap_or_default();
        let status = if self.length {
            "incomplete"
        } else {
            "completed"
        };
        let r = response_object(
            &self.id,
            &self.model,
            status,
            self.output.clone(),
            Some(usage_json(
                u.prompt_tokens,
                u.cached_tokens,
                u.completion_tokens,
            )),
        );
        let name = if self.length {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let mut data = json!({"type": name, "response": r, "sequence_number": self.seq});
        data["sequence_number"] = self.seq.into();
        self.seq += 1;
        data
    }
}

enum Source {
    Translated {
        inner: ChunkStream,
        writer: Box<EventWriter>,
    },
    Passthrough {
        body: RawBody,
        parser: SseParser,
        usage: Option<Usage>,
        chars: crate::proxy::relay::Streamed,
    },
}

/// The SSE body of one streamed Responses answer.
pub struct ResponsesRelay {
    source: Source,
    ticket: Option<Ticket>,
    prompt_estimate: u64,
    done: bool,
    committing: Option<Commit>,
    /// The terminator (`response.completed`), sent once committed.
    terminator: Option<(String, String)>,
}

/// Usage of a Responses `usage` object.
pub fn usage_of(u: &Value) -> Option<Usage> {
    Some(Usage {
        prompt_tokens: u.get("input_tokens")?.as_u64()?,
        completion_tokens: u.get("output_tokens")?.as_u64()?,
        cached_tokens: u["input_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap_or(0),
        ..Usage::default()
    })
}

impl ResponsesRelay {
    /// A translated stream for `model`; calls of `custom` tools go back as such.
    pub fn translated(
        inner: ChunkStream,
        ticket: Ticket,
        model: &str,
        custom: Vec<String>,
        prompt_estimate: u64,
    ) -> ResponsesRelay {
        let writer = Box::new(EventWriter {
            id: crate::proxy::http::mint_id("resp_"),
            model: model.to_string(),
            seq: 0,
            started: false,
            open: None,
            output: Vec::new(),
            custom,
            usage: None,
            length: false,
            streamed: crate::proxy::relay::Streamed::default(),
        });
        ResponsesRelay::new(
            Source::Translated { inner, writer },
            ticket,
            prompt_estimate,
        )
    }

    /// An OpenAI stream passed through.
    pub fn passthrough(body: RawBody, ticket: Ticket, prompt_estimate: u64) -> ResponsesRelay {
        ResponsesRelay::new(
            Source::Passthrough {
                body,
                parser: SseParser::new(),
                usage: None,
                chars: crate::proxy::relay::Streamed::default(),
            },
            ticket,
            prompt_estimate,
        )
    }

    fn new(source: Source, ticket: Ticket, prompt_estimate: u64) -> ResponsesRelay {
        ResponsesRelay {
            source,
            ticket: Some(ticket),
            prompt_estimate,
            done: false,
            committing: None,
            terminator: None,
        }
    }

    /// What the key has left as the stream starts.
    pub fn key_remaining(&self) -> Option<crate::money::Nanos> {
        self.ticket.as_ref().and_then(Ticket::key_remaining)
    }

    fn usage_so_far(&self) -> Usage {
        let (usage, chars) = match &self.source {
            Source::Translated { writer, .. } => (writer.usage, writer.streamed),
            Source::Passthrough { usage, chars, .. } => (*usage, *chars),
        };
        crate::proxy::relay::usage_of_cut_stream(usage, self.prompt_estimate, chars)
    }

    fn succeed(&mut self, name: String, data: String) {
        self.done = true;
        self.terminator = Some((name, data));
        let usage = self.usage_so_far();
        if let Some(c) = self.ticket.take().and_then(|mut t| {
            t.finish_acked(Outcome {
                http_status: 200,
                error: None,
                usage,
                response_body: None,
            })
        }) {
            self.committing = Some(Box::pin(c));
        }
    }

    fn fail(&mut self, status: u16, message: String) {
        self.done = true;
        let usage = self.usage_so_far();
        if let Some(mut t) = self.ticket.take() {
            t.finish_now(Outcome {
                http_status: status,
                error: Some(message),
                usage,
                response_body: None,
            });
        }
    }

    fn failed_event(out: &mut Vec<u8>, seq: u64, message: &str) {
        let data = json!({"type": "response.failed", "sequence_number": seq, "response": {"id": "resp_failed", "object": "response", "status": "failed",
            "output": [], "error": {"code": "server_error", "message": message}}});
        frame(out, "response.failed", &data.to_string());
    }

    fn pump(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) {
        while !self.done && out.len() < 64 * 1024 {
            match &mut self.source {
                Source::Translated { inner, writer } => match inner.as_mut().poll_next(cx) {
                    Poll::Pending => return,
                    Poll::Ready(Some(Ok(piece))) => writer.chunk(&piece.into_chunk(), out),
                    Poll::Ready(Some(Err(e))) => {
                        let seq = writer.seq;
                        Self::failed_event(out, seq, &e.to_string());
                        self.fail(502, format!("stream failed: {e}"));
                    }
                    Poll::Ready(None) => {
                        let data = writer.finish(out);
                        let name = data["type"]
                            .as_str()
                            .unwrap_or("response.completed")
                            .to_string();
                        self.succeed(name, data.to_string());
                    }
                },
                Source::Passthrough {
                    body,
                    parser,
                    usage,
                    chars,
                } => match body.as_mut().poll_next(cx) {
                    Poll::Pending => return,
                    Poll::Ready(Some(Ok(bytes))) => {
                        let mut end: Option<Result<(String, String), String>> = None;
                        let fed = parser.feed_each(&bytes, &mut |ev| {
                            if end.is_some() {
                                return;
                            }
                            let name = ev.event.unwrap_or("message").to_string();
                            match name.as_str() {
                                "response.completed" | "response.incomplete" => {
                                    let v: Value =
                                        serde_json::from_str(ev.data).unwrap_or_default();
                                    *usage = usage_of(&v["response"]["usage"]).or(*usage);
                                    end = Some(Ok((name, ev.data.to_string())));
                                }
                                "response.failed" | "error" => {
                                    frame(out, &name, ev.data);
                                    end = Some(Err(format!(
                                        "the provider's stream failed: {}",
                                        ev.data
                                    )));
                                }
                                _ => {
                                    if name.ends_with(".delta") {
                                        chars.add(ev.data.len() as u64 / 2);
                                    }
                                    frame(out, &name, ev.data);
                                }
                            }
                        });
                        if let (Err(e), None) = (fed, &end) {
                            Self::failed_event(out, 0, &e.to_string());
                            end = Some(Err(e.to_string()));
                        }
                        match end {
                            Some(Ok((name, data))) => self.succeed(name, data),
                            Some(Err(message)) => self.fail(502, message),
                            None => {}
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        Self::failed_event(out, 0, &format!("the provider's stream broke: {e}"));
                        self.fail(502, format!("stream cut: {e}"));
                    }
                    Poll::Ready(None) => {
                        Self::failed_event(
                            out,
                            0,
                            "the provider's stream ended before response.completed",
                        );
                        self.fail(502, "stream ended before response.completed".into());
                    }
                },
            }
        }
    }
}

impl Stream for ResponsesRelay {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let mut out = Vec::new();
        this.pump(cx, &mut out);
        if let Some(commit) = this.committing.as_mut() {
            match commit.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    this.committing = None;
                    match (result, this.terminator.take()) {
                        (Ok(()), Some((name, data))) => frame(&mut out, &name, &data),
                        (Err(e), _) => Self::failed_event(&mut out, 0, &e.to_string()),
                        (Ok(()), None) => {}
                    }
                }
                Poll::Pending if out.is_empty() => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        if this.committing.is_none() {
            if let Some((name, data)) = this.terminator.take() {
                frame(&mut out, &name, &data);
            }
        }
        if !out.is_empty() {
            Poll::Ready(Some(Ok(Bytes::from(out))))
        } else if this.done && this.committing.is_none() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for ResponsesRelay {
    fn drop(&mut self) {
        if self.ticket.is_some() {
            self.fail(499, "the client disconnected mid-stream".into());
        }
    }
}
