//! Relays a translated upstream stream to the client as OpenAI SSE, chunk by chunk as
//! it arrives (never held back), and finishes the request's ticket when the stream
//! ends, fails, or the client goes away (the ticket's drop charges what was streamed).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::{HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use futures_util::{stream, FutureExt, Stream, StreamExt};

use super::piece::{Piece, TextDelta, TextWriter};
use super::sse::encode_data;
use super::ticket::{Outcome, Ticket};
use super::{ChatChunk, ChunkStream, UpstreamError, Usage};
use crate::ledger::LedgerError;

const DONE: &[u8] = b"data: [DONE]\n\n";
/// Largest frame assembled from ready events before it is handed to the client.
const MAX_FRAME: usize = 64 * 1024;
/// What a frame starts with room for.
const FRAME_START: usize = 4 * 1024;

/// A ledger commit in progress (see `Ledger::commit`).
type Commit = Pin<Box<dyn Future<Output = Result<(), LedgerError>>>>;

/// The SSE body of one streamed response.
pub struct Relay {
    inner: ChunkStream,
    ticket: Option<Ticket>,
    include_usage: bool,
    usage: Option<Usage>,
    prompt_estimate: u64,
    streamed: crate::proxy::relay::Streamed,
    text: String,
    keep_text: bool,
    done: bool,
    texts: TextWriter,
    /// The ledger commit the terminator waits for.
    committing: Option<Commit>,
}

impl Relay {
    /// Wraps `inner`; `ticket` is finished when the stream ends.
    pub fn new(
        inner: ChunkStream,
        ticket: Ticket,
        include_usage: bool,
        prompt_estimate: u64,
        keep_text: bool,
    ) -> Relay {
        Relay {
            inner,
            ticket: Some(ticket),
            include_usage,
            usage: None,
            prompt_estimate,
            streamed: crate::proxy::relay::Streamed::default(),
            text: String::new(),
            keep_text,
            done: false,
            texts: TextWriter::default(),
            committing: None,
        }
    }

    /// The response that carries this stream under `head`.
    ///
    /// When the provider's whole stream is already in hand as the answer starts (a
    /// short answer from a fast local model, or a provider or proxy that buffers), it
    /// goes out in one piece with a `Content-Length`, as a plain reverse proxy passes on
    /// the provider's own length: the client has no chunk framing to undo. Any other
    /// stream goes out chunked, each part as soon as it arrives.
    pub fn respond(mut self, mut head: HttpResponseBuilder) -> HttpResponse {
        // Polled once without a real waker: if the provider is not done, the stream is
        // handed to the server, whose first poll registers its own waker before waiting.
        match self.next().now_or_never() {
            Some(Some(Ok(whole))) if self.done && self.committing.is_none() => head.body(whole),
            Some(Some(first)) => head.streaming(stream::iter([first]).chain(self)),
            Some(None) => head.finish(),
            None => head.streaming(self),
        }
    }

    fn observe(&mut self, chunk: &ChatChunk) {
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for c in &chunk.choices {
            if let Some(t) = &c.delta.content {
                self.saw_text(t.chars().count() as u64, |out| out.push_str(t));
            }
            for call in &c.delta.tool_calls {
                self.streamed.add(
                    call.arguments
                        .as_ref()
                        .map_or(0, |a| a.chars().count() as u64),
                );
            }
        }
    }

    fn observe_text(&mut self, delta: &TextDelta) {
        self.saw_text(delta.chars(), |out| out.push_str(&delta.text()));
    }

    /// Counts streamed text, and keeps it (up to 16 KiB) when bodies are stored.
    fn saw_text(&mut self, chars: u64, append: impl FnOnce(&mut String)) {
        self.streamed.add(chars);
        if self.keep_text && self.text.len() < 16 * 1024 {
            append(&mut self.text);
        }
    }

    /// Usage reported by the provider, or an estimate of what was streamed when the
    /// stream broke before the provider said.
    fn usage_so_far(&self) -> Usage {
        usage_of_cut_stream(self.usage, self.prompt_estimate, self.streamed)
    }

    /// Finishes a stream that reached its terminator; the commit to wait for.
    fn finish_acked(&mut self) -> Option<impl Future<Output = Result<(), LedgerError>> + 'static> {
        let usage = self.usage_so_far();
        let body = self.keep_text.then(|| std::mem::take(&mut self.text));
        let mut ticket = self.ticket.take()?;
        ticket.finish_acked(Outcome {
            http_status: 200,
            error: None,
            usage,
            response_body: body,
        })
    }

    fn finish(&mut self, status: u16, error: Option<String>) {
        let usage = self.usage_so_far();
        let body = self.keep_text.then(|| std::mem::take(&mut self.text));
        if let Some(mut t) = self.ticket.take() {
            t.finish_now(Outcome {
                http_status: status,
                error,
                usage,
                response_body: body,
            });
        }
    }
}

/// What a stream is charged: the provider's usage when it said, else, for a stream cut
/// short (client gone, upstream broken), an estimate that never exceeds what the whole
/// answer would have cost. `prompt_estimate` is the reservation's guess, which errs
/// high on purpose (about three characters a token, where tokenisers average four), so
/// it is taken at three quarters; the text streamed is counted at four characters a
/// token, and never at more tokens than the deltas it came in. A cut stream may be charged a little less than the provider bills for it,
/// never more than its full answer.
pub fn usage_of_cut_stream(
    reported: Option<Usage>,
    prompt_estimate: u64,
    streamed: Streamed,
) -> Usage {
    reported.unwrap_or(Usage {
        prompt_tokens: prompt_estimate * 3 / 4,
        completion_tokens: streamed.chars.div_ceil(4).min(streamed.deltas),
        ..Usage::default()
    })
}

/// What a stream has carried to the client so far: characters of text and tool-call
/// arguments, and the deltas they came in (each at least one token).
#[derive(Debug, Clone, Copy, Default)]
pub struct Streamed {
    chars: u64,
    deltas: u64,
}

impl Streamed {
    /// One more delta of `chars` characters.
    pub fn add(&mut self, chars: u64) {
        self.chars += chars;
        self.deltas += 1;
    }
}

/// The SSE event for a stream whose ledger row could not be committed in time: the
/// answer is not acknowledged (no `[DONE]`), in OpenAI's error shape.
fn unrecorded_event(e: &LedgerError) -> Bytes {
    encode_data(
        &serde_json::json!({"error": {"message": e.to_string(), "type": "api_error", "param": null, "code": "service_unavailable"}}),
    )
}

/// The SSE event for a mid-stream failure, in OpenAI's error shape.
fn error_event(e: &UpstreamError) -> Bytes {
    let (error_type, code) = match e {
        UpstreamError::Status { kind, .. } => (kind.openai_type(), "upstream_error"),
        UpstreamError::Timeout => ("api_error", "upstream_timeout"),
        _ => ("api_error", "upstream_error"),
    };
    encode_data(
        &serde_json::json!({"error": {"message": e.to_string(), "type": error_type, "param": null, "code": code}}),
    )
}

impl Stream for Relay {
    type Item = Result<Bytes, actix_web::Error>;

    /// Everything the upstream has ready goes out as one frame: a provider that sends
    /// several events in one read costs one write to the client, not one per event,
    /// while a slow provider's events still go out the moment each arrives.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut out = Vec::new();
        while !self.done && out.len() < MAX_FRAME {
            let next = self.inner.as_mut().poll_next(cx);
            if out.capacity() == 0 && !next.is_pending() {
                // Room for a typical burst of events, so the frame is not regrown.
                out.reserve(FRAME_START);
            }
            match next {
                Poll::Pending => break,
                Poll::Ready(Some(Ok(Piece::Text(delta)))) => {
                    self.observe_text(&delta);
                    let include_usage = self.include_usage;
                    self.texts.write(&delta, include_usage, &mut out);
                }
                Poll::Ready(Some(Ok(Piece::Chunk(chunk)))) => {
                    self.observe(&chunk);
                    if chunk.is_usage_only() && !self.include_usage {
                        continue;
                    }
                    chunk.write_openai_sse(self.include_usage, &mut out);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    let status = match &e {
                        UpstreamError::Status { status, .. } => *status,
                        UpstreamError::Timeout => 504,
                        _ => 502,
                    };
                    self.finish(status, Some(format!("stream failed: {e}")));
                    out.extend_from_slice(&error_event(&e));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    match self.finish_acked() {
                        Some(commit) => self.committing = Some(Box::pin(commit)),
                        None => out.extend_from_slice(DONE),
                    }
                }
            }
        }
        // The terminator leaves only once the request's ledger row is committed.
        if let Some(commit) = self.committing.as_mut() {
            match commit.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    self.committing = None;
                    match result {
                        Ok(()) => out.extend_from_slice(DONE),
                        Err(e) => out.extend_from_slice(&unrecorded_event(&e)),
                    }
                }
                Poll::Pending if out.is_empty() => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        if !out.is_empty() {
            Poll::Ready(Some(Ok(Bytes::from(out))))
        } else if self.done && self.committing.is_none() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Relay {
    /// The client went away mid-stream: dropping `inner` cancels the upstream request,
    /// and what was streamed so far is still charged.
    fn drop(&mut self) {
        if self.ticket.is_some() {
            self.finish(499, Some("the client disconnected mid-stream".into()));
        }
    }
}
