//! Plumbing shared by the adapters: sending one JSON POST (see `client/`), turning error
//! statuses into `UpstreamError` (key-free), reading a JSON body, and driving a
//! streamed body through the SSE parser into a provider's per-stream translator.
//!
//! Providers own their URLs, headers, bodies and event mapping; this module owns none.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use rand::distr::{Alphanumeric, SampleString};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::client::{Client, ClientError};
use super::piece::Piece;
use super::sse::{SseEvent, SseParser};
use super::types::ChatChunk;
use super::{ChunkStream, Upstream, UpstreamError, UpstreamErrorKind};

/// Largest non-streamed upstream body we accept.
const BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Largest error body we read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// What a provider's `error_from_wire` makes of an error body.
#[derive(Debug, Default)]
pub(crate) struct ErrorDetail {
    /// The provider's message (scrubbed of the key later).
    pub message: String,
    /// Overrides the status-based kind (e.g. Gemini's 400 `API_KEY_INVALID`).
    pub kind: Option<UpstreamErrorKind>,
    /// A retry delay found in the body (Gemini `RetryInfo`).
    pub retry_after: Option<Duration>,
}

/// A provider's error-body reader.
pub(crate) type ErrorParser = fn(u16, &[u8]) -> ErrorDetail;

type Body = Pin<Box<dyn Stream<Item = Result<Bytes, ClientError>>>>;

/// A successful (2xx) upstream response whose body is still to be read.
pub(crate) struct Response {
    body: Body,
    timeout: Duration,
    key: Option<String>,
}

/// The deployment's key, or `MissingKey` before any call is made.
pub(crate) fn api_key(up: &Upstream) -> Result<&str, UpstreamError> {
    up.api_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or(UpstreamError::MissingKey)
}

/// POST `body` as JSON with `headers`; error statuses come back as `UpstreamError`.
pub(crate) async fn post(
    http: &Client,
    up: &Upstream,
    url: &str,
    headers: &[(&str, &str)],
    body: &impl Serialize,
    on_error: ErrorParser,
) -> Result<Response, UpstreamError> {
    let json = serde_json::to_vec(body)
        .map_err(|e| UpstreamError::Protocol(format!("could not encode the request: {e}")))?;
    let resp = http
        .post_json(up.route, url, headers, json, up.timeout)
        .await
        .map_err(|e| scrub(send_error(e), up.api_key.as_deref()))?;
    let (status, retry_after) = (resp.status, resp.retry_after);
    let mut out = Response {
        body: Box::pin(resp.body()),
        timeout: up.timeout,
        key: up.api_key.clone(),
    };
    if (200..300).contains(&status) {
        return Ok(out);
    }
    let raw = out.read(ERROR_BODY_LIMIT).await.unwrap_or_default();
    let detail = on_error(status, &raw);
    Err(scrub(
        status_error(status, detail, retry_after),
        out.key.as_deref(),
    ))
}

impl Response {
    /// Read the whole body (bounded in size and time) and decode it.
    pub(crate) async fn json<T: DeserializeOwned>(mut self) -> Result<T, UpstreamError> {
        let raw = self.read(BODY_LIMIT).await?;
        serde_json::from_slice(&raw)
            .map_err(|e| UpstreamError::Protocol(format!("unreadable response body: {e}")))
    }

    async fn read(&mut self, limit: usize) -> Result<Vec<u8>, UpstreamError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return Err(UpstreamError::Timeout),
                Ok(None) => return Ok(out),
                Ok(Some(Err(e))) => {
                    return Err(UpstreamError::Protocol(format!("response body cut: {e}")))
                }
                Ok(Some(Ok(bytes))) if out.len() + bytes.len() > limit => {
                    return Err(UpstreamError::Protocol("response body too large".into()))
                }
                Ok(Some(Ok(bytes))) => out.extend_from_slice(&bytes),
            }
        }
    }

    /// Translate the body as an SSE stream, event by event, as bytes arrive.
    pub(crate) fn events<T: EventTranslator + Unpin + 'static>(self, translator: T) -> ChunkStream {
        event_stream(self.body, translator, self.timeout, self.key)
    }
}

/// A provider's per-stream state: maps each upstream event to zero or more chunks.
pub(crate) trait EventTranslator {
    /// Translate one event; `Err` ends the stream with that error.
    fn chunk_from_event(&mut self, ev: &SseEvent<'_>) -> Result<Vec<ChatChunk>, UpstreamError>;
    /// The fast path, tried first, for the events of an ordinary stream: read without
    /// building a parse tree, a text fragment kept as the provider's string literal
    /// (see `piece`). `None` means the event goes to `chunk_from_event`.
    fn quick(&mut self, _ev: &SseEvent<'_>) -> Option<Piece> {
        None
    }
    /// The terminator has been seen: stop reading.
    fn is_done(&self) -> bool;
    /// The body ended or the terminator was seen: last chunks (usage), or a
    /// `Protocol` error when the stream was cut before its terminator.
    fn finish(&mut self) -> Result<Vec<ChatChunk>, UpstreamError>;
}

/// Reads the body, parses SSE and translates events into chunks, as a hand-written
/// stream: nothing is moved or re-armed per chunk, and the idle timer is only touched
/// when the provider actually makes us wait.
struct Driver<T> {
    body: Body,
    parser: SseParser,
    translator: T,
    pending: VecDeque<Result<Piece, UpstreamError>>,
    ended: bool,
    idle: Duration,
    /// The idle timer, created the first time the body is not ready.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Bytes arrived since the timer was last armed: re-arm before waiting again.
    rearm: bool,
    key: Option<String>,
}

fn event_stream<S, T>(body: S, translator: T, idle: Duration, key: Option<String>) -> ChunkStream
where
    S: Stream<Item = Result<Bytes, ClientError>> + 'static,
    T: EventTranslator + Unpin + 'static,
{
    Box::pin(Driver {
        body: Box::pin(body),
        parser: SseParser::new(),
        translator,
        // Room for the chunks of one read of an ordinary stream.
        pending: VecDeque::with_capacity(16),
        ended: false,
        idle,
        timer: None,
        rearm: false,
        key,
    })
}

impl<T: EventTranslator + Unpin> Stream for Driver<T> {
    type Item = Result<Piece, UpstreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.pending.pop_front() {
                return Poll::Ready(Some(item));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match this.body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    this.rearm = true;
                    this.take_events(Some(&bytes));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.fail(UpstreamError::Protocol(format!("stream cut: {e}")))
                }
                Poll::Ready(None) => {
                    this.take_events(None);
                    if !this.ended {
                        this.end();
                    }
                }
                Poll::Pending => return this.wait(cx),
            }
        }
    }
}

/// One event through the translator, unless the stream already ended.
fn translate<T: EventTranslator>(
    translator: &mut T,
    pending: &mut VecDeque<Result<Piece, UpstreamError>>,
    ended: &mut bool,
    ev: SseEvent<'_>,
) {
    if *ended || translator.is_done() {
        return;
    }
    if let Some(piece) = translator.quick(&ev) {
        return pending.push_back(Ok(piece));
    }
    match translator.chunk_from_event(&ev) {
        Ok(chunks) => pending.extend(chunks.into_iter().map(|c| Ok(Piece::Chunk(c)))),
        Err(e) => {
            pending.push_back(Err(e));
            *ended = true;
        }
    }
}

impl<T: EventTranslator> Driver<T> {
    /// Translates the events `bytes` complete (`None`: the body ended, flush the
    /// parser), then ends the stream on an error or the terminator.
    fn take_events(&mut self, bytes: Option<&[u8]>) {
        let Driver {
            parser,
            translator,
            pending,
            ended,
            ..
        } = self;
        let mut on_event = |ev: SseEvent<'_>| translate(translator, pending, ended, ev);
        let fed = match bytes {
            Some(bytes) => parser.feed_each(bytes, &mut on_event),
            None => {
                parser.finish_each(&mut on_event);
                Ok(())
            }
        };
        if let Err(e) = fed {
            if !*ended {
                pending.push_back(Err(UpstreamError::Protocol(e.to_string())));
                *ended = true;
            }
        }
        self.after_events();
    }

    /// After a batch of events: a translator error is scrubbed; a terminator ends.
    fn after_events(&mut self) {
        if self.ended {
            // Only a translator error sets `ended` inside a batch; it sits last.
            if let Some(Err(e)) = self.pending.back_mut() {
                let raw = std::mem::replace(e, UpstreamError::Timeout);
                *e = scrub(raw, self.key.as_deref());
            }
        } else if self.translator.is_done() {
            self.end();
        }
    }

    /// The body is not ready: wait, unless the provider has been silent too long.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Piece, UpstreamError>>> {
        let idle = self.idle;
        let timer = match &mut self.timer {
            Some(timer) => {
                if std::mem::take(&mut self.rearm) {
                    timer.as_mut().reset(tokio::time::Instant::now() + idle);
                }
                timer
            }
            None => {
                self.rearm = false;
                self.timer.insert(Box::pin(tokio::time::sleep(idle)))
            }
        };
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.fail(UpstreamError::Timeout);
        Poll::Ready(self.pending.pop_front())
    }

    fn end(&mut self) {
        match self.translator.finish() {
            Ok(chunks) => self
                .pending
                .extend(chunks.into_iter().map(|c| Ok(Piece::Chunk(c)))),
            Err(e) => self.pending.push_back(Err(e)),
        }
        self.ended = true;
    }

    fn fail(&mut self, e: UpstreamError) {
        self.pending.push_back(Err(scrub(e, self.key.as_deref())));
        self.ended = true;
    }
}

/// Build the `Status` error; auth failures say the *provider* key was refused.
pub(crate) fn status_error(
    status: u16,
    detail: ErrorDetail,
    retry_after: Option<Duration>,
) -> UpstreamError {
    let kind = detail
        .kind
        .unwrap_or_else(|| UpstreamErrorKind::from_status(status));
    let message = if kind == UpstreamErrorKind::Authentication {
        format!("the provider rejected the API key configured for this model deployment (HTTP {status})")
    } else if detail.message.is_empty() {
        format!("the provider answered HTTP {status}")
    } else {
        detail.message
    };
    UpstreamError::Status {
        status,
        message,
        kind,
        retry_after: retry_after.or(detail.retry_after),
    }
}

/// Never let the key out, whatever the provider echoed.
fn scrub(e: UpstreamError, key: Option<&str>) -> UpstreamError {
    let Some(key) = key.filter(|k| k.len() >= 4) else {
        return e;
    };
    let clean = |s: String| s.replace(key, "***");
    match e {
        UpstreamError::Status {
            status,
            message,
            kind,
            retry_after,
        } => UpstreamError::Status {
            status,
            message: clean(message),
            kind,
            retry_after,
        },
        UpstreamError::Protocol(m) => UpstreamError::Protocol(clean(m)),
        UpstreamError::Connect(m) => UpstreamError::Connect(clean(m)),
        UpstreamError::Interrupted(m) => UpstreamError::Interrupted(clean(m)),
        other => other,
    }
}

fn send_error(e: ClientError) -> UpstreamError {
    match e {
        ClientError::Timeout => UpstreamError::Timeout,
        ClientError::Protocol(m) => UpstreamError::Protocol(m),
        ClientError::Connect(m) | ClientError::Invalid(m) => UpstreamError::Connect(m),
        ClientError::Interrupted(m) => UpstreamError::Interrupted(m),
    }
}

/// Decode one event's JSON data.
pub(crate) fn parse_event<T: DeserializeOwned>(data: &str) -> Result<T, UpstreamError> {
    serde_json::from_str(data)
        .map_err(|e| UpstreamError::Protocol(format!("unreadable stream event: {e}")))
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `prefix` + 24 random alphanumerics (ids the provider does not give us).
pub(crate) fn mint_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::rng(), 24)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::types::{ChunkChoice, Delta};

    struct Echo {
        done: bool,
    }

    impl EventTranslator for Echo {
        fn chunk_from_event(&mut self, ev: &SseEvent<'_>) -> Result<Vec<ChatChunk>, UpstreamError> {
            match ev.data {
                "END" => self.done = true,
                "BOOM sk-secret-key" => return Err(UpstreamError::Protocol(ev.data.to_string())),
                text => {
                    let delta = Delta {
                        content: Some(text.to_string()),
                        ..Delta::default()
                    };
                    return Ok(vec![ChatChunk::single(
                        "i",
                        1,
                        "m",
                        ChunkChoice {
                            delta,
                            ..ChunkChoice::default()
                        },
                    )]);
                }
            }
            Ok(Vec::new())
        }
        fn is_done(&self) -> bool {
            self.done
        }
        fn finish(&mut self) -> Result<Vec<ChatChunk>, UpstreamError> {
            if self.done {
                Ok(Vec::new())
            } else {
                Err(UpstreamError::Protocol("cut".into()))
            }
        }
    }

    async fn run(parts: &[&'static str]) -> Vec<Result<String, String>> {
        let parts: Vec<Result<Bytes, ClientError>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        let body = futures_util::stream::iter(parts);
        let key = Some("sk-secret-key".to_string());
        let stream = event_stream(body, Echo { done: false }, Duration::from_secs(5), key);
        stream
            .map(|r| {
                r.map(|p| {
                    p.into_chunk().choices[0]
                        .delta
                        .content
                        .clone()
                        .unwrap_or_default()
                })
                .map_err(|e| e.to_string())
            })
            .collect()
            .await
    }

    #[actix_web::test]
    async fn driver_translates_across_byte_boundaries_and_stops_at_the_terminator() {
        let out = run(&[
            "data: a\n",
            "\ndata: b\n\nda",
            "ta: END\n\ndata: ignored\n\n",
        ])
        .await;
        assert_eq!(out, vec![Ok("a".into()), Ok("b".into())]);
    }

    #[actix_web::test]
    async fn a_cut_stream_ends_with_a_protocol_error_after_its_chunks() {
        let out = run(&["data: a\n\n"]).await;
        assert_eq!(out.len(), 2);
        assert!(out[1].as_ref().is_err_and(|e| e.contains("cut")));
    }

    /// Bytes that keep arriving within the idle limit never time out, however long the
    /// whole stream takes; a pause longer than the limit does.
    #[actix_web::test]
    async fn the_idle_limit_counts_from_the_last_bytes() {
        let paced = |parts: Vec<(u64, &'static str)>| {
            futures_util::stream::unfold(parts.into_iter(), |mut parts| async move {
                let (pause_ms, text) = parts.next()?;
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                Some((Ok(Bytes::from_static(text.as_bytes())), parts))
            })
        };
        let idle = Duration::from_millis(250);
        let steady = paced(vec![
            (0, "data: a\n\n"),
            (150, "data: b\n\n"),
            (150, "data: c\n\n"),
            (150, "data: END\n\n"),
        ]);
        let out: Vec<_> = event_stream(steady, Echo { done: false }, idle, None)
            .collect()
            .await;
        assert_eq!(out.len(), 3, "450 ms in all, never 250 ms silent");
        assert!(out.iter().all(Result::is_ok));

        let stalled = paced(vec![
            (0, "data: a\n\n"),
            (150, "data: b\n\n"),
            (400, "data: c\n\n"),
        ]);
        let out: Vec<_> = event_stream(stalled, Echo { done: false }, idle, None)
            .collect()
            .await;
        assert_eq!(out.len(), 3);
        assert!(matches!(out[2], Err(UpstreamError::Timeout)));
    }

    #[actix_web::test]
    async fn stream_errors_are_scrubbed_of_the_key() {
        let out = run(&["data: BOOM sk-secret-key\n\n"]).await;
        let err = out[0].clone().expect_err("error");
        assert!(!err.contains("sk-secret-key"), "{err}");
    }

    #[test]
    fn auth_failures_never_echo_the_provider_message() {
        let detail = ErrorDetail {
            message: "Incorrect API key provided: sk-ab***cd".into(),
            ..ErrorDetail::default()
        };
        let e = status_error(401, detail, None);
        assert!(e.to_string().contains("rejected the API key"));
        assert!(!e.to_string().contains("sk-ab"));
    }
}
