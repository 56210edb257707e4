//! Streamed Messages answers: a translated stream of canonical chunks rendered as
//! Anthropic's event sequence, or an Anthropic stream passed through event for event
//! with its usage tapped on the way. Either way the closing `message_stop` leaves only
//! once the request's ledger row is committed (SPEC §14), and a client that goes away
//! is charged for what it was sent.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use serde_json::{json, Value};

use super::translate::{stop_reason, usage_json};
use crate::ledger::LedgerError;
use crate::proxy::sse::SseParser;
use crate::proxy::ticket::{Outcome, Ticket};
use crate::proxy::types::ChatChunk;
use crate::proxy::{ChunkStream, Usage};

/// The upstream's raw body.
pub type RawBody = Pin<Box<dyn Stream<Item = Result<Bytes, crate::proxy::client::ClientError>>>>;
type Commit = Pin<Box<dyn Future<Output = Result<(), LedgerError>>>>;

/// Appends one SSE frame with its `event:` line (the SDKs dispatch on it).
fn frame(out: &mut Vec<u8>, name: &str, data: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
}

fn event(out: &mut Vec<u8>, data: &Value) {
    let name = data["type"].as_str().unwrap_or("message");
    frame(out, name, &data.to_string());
}

/// An `error` event in Anthropic's shape.
pub fn error_event(out: &mut Vec<u8>, kind: &str, message: &str) {
    event(
        out,
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    );
}

const MESSAGE_STOP: &str = r#"{"type":"message_stop"}"#;

/// Canonical chunks → Anthropic events.
struct EventWriter {
    id: String,
    model: String,
    started: bool,
    /// The open block: its index and, for a tool call, which call.
    open: Option<(u32, Option<u32>)>,
    next_index: u32,
    stop: &'static str,
    usage: Option<Usage>,
    streamed: crate::proxy::relay::Streamed,
}

impl EventWriter {
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        event(
            out,
            &json!({"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}}}),
        );
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open.take() {
            event(out, &json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn open(&mut self, out: &mut Vec<u8>, call: Option<u32>, block: Value) -> u32 {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, call));
        event(
            out,
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        index
    }

    fn chunk(&mut self, c: &ChatChunk, out: &mut Vec<u8>) {
        self.start(out);
        if let Some(u) = c.usage {
            self.usage = Some(u);
        }
        for choice in c.choices.iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
                self.streamed.add(text.chars().count() as u64);
                let index = match self.open {
                    Some((i, None)) => i,
                    _ => self.open(out, None, json!({"type": "text", "text": ""})),
                };
                event(
                    out,
                    &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
                );
            }
            for call in &choice.delta.tool_calls {
                let index = match self.open {
                    Some((i, Some(open_call))) if open_call == call.index => i,
                    _ => self.open(out, Some(call.index), json!({"type": "tool_use", "id": call.id.clone().unwrap_or_default(), "name": call.name.clone().unwrap_or_default(), "input": {}})),
                };
                if let Some(args) = call.arguments.as_deref().filter(|a| !a.is_empty()) {
                    self.streamed.add(args.chars().count() as u64);
                    event(
                        out,
                        &json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": args}}),
                    );
                }
            }
            if let Some(f) = choice.finish_reason {
                self.stop = stop_reason(f.as_str());
            }
        }
    }

    /// Everything but `message_stop`.
    fn finish(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        self.close(out);
        let u = self.usage.unwrap_or_default();
        event(
            out,
            &json!({"type": "message_delta", "delta": {"stop_reason": self.stop, "stop_sequence": null},
            "usage": usage_json(u.prompt_tokens, u.cached_tokens, u.completion_tokens)}),
        );
    }
}

/// Usage read from a passed-through Anthropic stream: `message_start` has the input
/// and cache counts, each `message_delta` the cumulative output (last value wins).
#[derive(Default)]
struct UsageTap {
    usage: Option<Usage>,
    streamed: crate::proxy::relay::Streamed,
}

impl UsageTap {
    fn take(&mut self, name: &str, data: &str) {
        let wire = |v: &Value| {
            serde_json::from_value::<crate::proxy::anthropic::WireUsage>(v.clone()).ok()
        };
        match name {
            "message_start" => {
                let v: Value = serde_json::from_str(data).unwrap_or_default();
                if let Some(w) = wire(&v["message"]["usage"]) {
                    self.usage = Some(w.canonical());
                }
            }
            "message_delta" => {
                let v: Value = serde_json::from_str(data).unwrap_or_default();
                let Some(w) = wire(&v["usage"]) else { return };
                let mut u = self.usage.unwrap_or_default();
                let seen = |key: &str| v["usage"].get(key).is_some();
                u.completion_tokens = w.output_tokens;
                if seen("input_tokens")
                    || seen("cache_read_input_tokens")
                    || seen("cache_creation_input_tokens")
                {
                    let fresh = w.canonical();
                    u.prompt_tokens = fresh.prompt_tokens;
                    u.cached_tokens = fresh.cached_tokens;
                    u.cache_creation_tokens = fresh.cache_creation_tokens;
                    u.cache_creation_1h_tokens = fresh.cache_creation_1h_tokens;
                }
                self.usage = Some(u);
            }
            "content_block_delta" => self.streamed.add(data.len() as u64 / 2),
            _ => {}
        }
    }
}

enum Source {
    Translated {
        inner: ChunkStream,
        writer: EventWriter,
    },
    Passthrough {
        body: RawBody,
        parser: SseParser,
        tap: UsageTap,
    },
}

/// The SSE body of one streamed Messages answer.
pub struct MessagesRelay {
    source: Source,
    ticket: Option<Ticket>,
    prompt_estimate: u64,
    done: bool,
    committing: Option<Commit>,
    /// The `message_stop` data to send once committed.
    stop_data: String,
}

impl MessagesRelay {
    /// A translated stream, rendered as `model`'s Anthropic events.
    pub fn translated(
        inner: ChunkStream,
        ticket: Ticket,
        model: &str,
        prompt_estimate: u64,
    ) -> MessagesRelay {
        let writer = EventWriter {
            id: crate::proxy::http::mint_id("msg_"),
            model: model.to_string(),
            started: false,
            open: None,
            next_index: 0,
            stop: "end_turn",
            usage: None,
            streamed: crate::proxy::relay::Streamed::default(),
        };
        MessagesRelay::new(
            Source::Translated { inner, writer },
            ticket,
            prompt_estimate,
        )
    }

    /// An Anthropic stream passed through.
    pub fn passthrough(body: RawBody, ticket: Ticket, prompt_estimate: u64) -> MessagesRelay {
        let source = Source::Passthrough {
            body,
            parser: SseParser::new(),
            tap: UsageTap::default(),
        };
        MessagesRelay::new(source, ticket, prompt_estimate)
    }

    fn new(source: Source, ticket: Ticket, prompt_estimate: u64) -> MessagesRelay {
        MessagesRelay {
            source,
            ticket: Some(ticket),
            prompt_estimate,
            done: false,
            committing: None,
            stop_data: MESSAGE_STOP.to_string(),
        }
    }

    /// What the key has left as the stream starts.
    pub fn key_remaining(&self) -> Option<crate::money::Nanos> {
        self.ticket.as_ref().and_then(Ticket::key_remaining)
    }

    /// Usage the provider reported, else an estimate of what was sent (never above
    /// the prompt estimate plus the text streamed).
    fn usage_so_far(&self) -> Usage {
        let (usage, chars) = match &self.source {
            Source::Translated { writer, .. } => (writer.usage, writer.streamed),
            Source::Passthrough { tap, .. } => (tap.usage, tap.streamed),
        };
        crate::proxy::relay::usage_of_cut_stream(usage, self.prompt_estimate, chars)
    }

    fn succeed(&mut self) {
        self.done = true;
        let usage = self.usage_so_far();
        let commit = self.ticket.take().and_then(|mut t| {
            t.finish_acked(Outcome {
                http_status: 200,
                error: None,
                usage,
                response_body: None,
            })
        });
        if let Some(c) = commit {
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

    /// Reads what the source has ready into `out`.
    fn pump(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) {
        while !self.done && out.len() < 64 * 1024 {
            match &mut self.source {
                Source::Translated { inner, writer } => match inner.as_mut().poll_next(cx) {
                    Poll::Pending => return,
                    Poll::Ready(Some(Ok(piece))) => writer.chunk(&piece.into_chunk(), out),
                    Poll::Ready(Some(Err(e))) => {
                        let status = match &e {
                            crate::proxy::UpstreamError::Status { status, .. } => *status,
                            crate::proxy::UpstreamError::Timeout => 504,
                            _ => 502,
                        };
                        error_event(out, super::errors::type_for_status(status), &e.to_string());
                        self.fail(status, format!("stream failed: {e}"));
                    }
                    Poll::Ready(None) => {
                        writer.finish(out);
                        self.succeed();
                    }
                },
                Source::Passthrough { body, parser, tap } => match body.as_mut().poll_next(cx) {
                    Poll::Pending => return,
                    Poll::Ready(Some(Ok(bytes))) => {
                        let mut outcome: Option<Result<String, (u16, String)>> = None;
                        let fed = parser.feed_each(&bytes, &mut |ev| {
                            if outcome.is_some() {
                                return;
                            }
                            let name = ev.event.unwrap_or("message");
                            tap.take(name, ev.data);
                            match name {
                                "message_stop" => outcome = Some(Ok(ev.data.to_string())),
                                "error" => {
                                    frame(out, name, ev.data);
                                    outcome = Some(Err((
                                        529,
                                        format!("the provider sent an error event: {}", ev.data),
                                    )));
                                }
                                _ => frame(out, name, ev.data),
                            }
                        });
                        if let (Err(e), None) = (fed, &outcome) {
                            error_event(out, "api_error", &e.to_string());
                            outcome = Some(Err((502, e.to_string())));
                        }
                        match outcome {
                            Some(Ok(stop)) => {
                                self.stop_data = stop;
                                self.succeed();
                            }
                            Some(Err((status, message))) => self.fail(status, message),
                            None => {}
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        error_event(
                            out,
                            "api_error",
                            &format!("the provider's stream broke: {e}"),
                        );
                        self.fail(502, format!("stream cut: {e}"));
                    }
                    Poll::Ready(None) => {
                        error_event(
                            out,
                            "api_error",
                            "the provider's stream ended before message_stop",
                        );
                        self.fail(502, "stream ended before message_stop".into());
                    }
                },
            }
        }
    }
}

impl Stream for MessagesRelay {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let mut out = Vec::new();
        this.pump(cx, &mut out);
        if let Some(commit) = this.committing.as_mut() {
            match commit.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    this.committing = None;
                    match result {
                        Ok(()) => frame(&mut out, "message_stop", &this.stop_data),
                        Err(e) => error_event(&mut out, "api_error", &e.to_string()),
                    }
                }
                Poll::Pending if out.is_empty() => return Poll::Pending,
                Poll::Pending => {}
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

impl Drop for MessagesRelay {
    fn drop(&mut self) {
        if self.ticket.is_some() {
            self.fail(499, "the client disconnected mid-stream".into());
        }
    }
}
