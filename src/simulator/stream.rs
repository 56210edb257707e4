//! Sends already-framed stream events as a real, incremental HTTP body.
//!
//! Provider modules frame their own events (SSE `event:`/`data:` lines, CRLF for Gemini, or
//! Gemini's JSON-array pieces); this file only decides *when* each goes out: delays between
//! events, a cut before the terminator, or an in-stream error after the opening events.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::stream;

/// How many events go out before an injected in-stream error.
const EVENTS_BEFORE_ERROR: usize = 2;

/// A framed stream: its events (the last one is the provider's terminator), the provider's
/// in-stream error event and the body's content type.
#[derive(Debug, Clone)]
pub struct Framed {
    /// Events in order; the last is the terminator (`[DONE]`, `message_stop`, last chunk).
    pub events: Vec<Bytes>,
    /// What the provider sends when it fails after the 200 has started.
    pub error_event: Bytes,
    /// `text/event-stream` or `application/json`.
    pub content_type: &'static str,
}

/// Misbehaviour applied to a stream by a fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamPlan {
    /// Pause before every event after the first.
    pub delay_ms: u64,
    /// End the body after this many events, never sending the terminator.
    pub cut_after: Option<usize>,
    /// Replace the rest of the stream with the provider's in-stream error event.
    pub in_stream_error: bool,
}

/// Applies `plan` to `framed` and returns the events that will actually be sent.
pub fn planned_events(framed: Framed, plan: StreamPlan) -> Vec<Bytes> {
    let mut events = framed.events;
    let before_terminator = events.len().saturating_sub(1);
    if plan.in_stream_error {
        events.truncate(EVENTS_BEFORE_ERROR.min(before_terminator));
        events.push(framed.error_event);
    } else if let Some(after) = plan.cut_after {
        events.truncate(after.min(before_terminator));
    }
    events
}

/// A 200 streaming response sending `framed` according to `plan`.
pub fn respond(framed: Framed, plan: StreamPlan) -> HttpResponse {
    let content_type = framed.content_type;
    let events = planned_events(framed, plan);
    let delay = Duration::from_millis(plan.delay_ms);
    let body = stream::unfold(
        (events.into_iter(), true),
        move |(mut events, first)| async move {
            let event = events.next()?;
            if !first && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok::<Bytes, Infallible>(event), (events, false)))
        },
    );
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "no-cache"))
        .streaming(body)
}

/// One SSE event with only a `data:` line, LF-framed.
pub fn data_event(json: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

/// The OpenAI-style terminator.
pub fn done_event() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed() -> Framed {
        Framed {
            events: vec![
                Bytes::from("a"),
                Bytes::from("b"),
                Bytes::from("c"),
                Bytes::from("END"),
            ],
            error_event: Bytes::from("ERR"),
            content_type: "text/event-stream",
        }
    }

    #[test]
    fn a_cut_never_sends_the_terminator() {
        let plan = StreamPlan {
            cut_after: Some(99),
            ..StreamPlan::default()
        };
        assert_eq!(planned_events(framed(), plan), vec!["a", "b", "c"]);
    }

    #[test]
    fn an_in_stream_error_follows_the_opening_events() {
        let plan = StreamPlan {
            in_stream_error: true,
            ..StreamPlan::default()
        };
        assert_eq!(planned_events(framed(), plan), vec!["a", "b", "ERR"]);
    }
}
