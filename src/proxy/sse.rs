//! Server-sent events, written once: an incremental parser for upstream streams and the
//! encoder for what Tollgate emits.
//!
//! The parser follows the WHATWG framing rules that matter here: LF, CRLF or CR line
//! ends (Gemini uses CRLF), multi-line `data:` joined with `\n`, `:` comment lines,
//! one optional space after the colon. It knows nothing about JSON or providers.

use bytes::Bytes;
use serde_json::Value;

/// The OpenAI stream terminator, ready to write.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// One dispatched event, borrowed from the parser until the next byte is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, when the server named the event.
    pub event: Option<&'a str>,
    /// The `data:` lines joined with `\n`.
    pub data: &'a str,
}

/// The longest event (or unfinished line) a stream may send: far above any real
/// delta, big enough for a whole tool call's arguments or an image in one event.
pub const MAX_EVENT_BYTES: usize = 32 * 1024 * 1024;

/// A stream sent an event longer than [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the provider sent a stream event longer than 32 MiB")]
pub struct EventTooLarge;

/// Incremental SSE parser: feed bytes as they arrive; each complete event is handed to a
/// callback. The event name and data live in buffers the parser reuses, so a stream
/// costs no allocation per event.
#[derive(Debug, Default)]
pub struct SseParser {
    /// An unfinished last line, kept for the next read.
    buf: Vec<u8>,
    event: String,
    has_event: bool,
    data: String,
    has_data: bool,
    started: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feed the next bytes; `on_event` gets each event they complete, in order.
    /// A line or event longer than [`MAX_EVENT_BYTES`] ends the stream with an error,
    /// so a provider (or anything posing as one) cannot make the gateway buffer
    /// without limit.
    pub fn feed_each(
        &mut self,
        bytes: &[u8],
        on_event: &mut dyn FnMut(SseEvent<'_>),
    ) -> Result<(), EventTooLarge> {
        if self.buf.is_empty() {
            // The usual case: whole events arrive together and are read in place;
            // only an unfinished last line is kept for the next read.
            let used = self.lines(bytes, on_event);
            self.buf.extend_from_slice(&bytes[used..]);
        } else {
            self.buf.extend_from_slice(bytes);
            // The buffer is lent out while its lines are read, so no line is copied.
            let buf = std::mem::take(&mut self.buf);
            let used = self.lines(&buf, on_event);
            self.buf = buf;
            self.buf.drain(..used);
        }
        if self.buf.len() + self.data.len() > MAX_EVENT_BYTES {
            self.buf = Vec::new();
            self.data = String::new();
            return Err(EventTooLarge);
        }
        Ok(())
    }

    /// The body ended: dispatch what a lenient reader can still make of the tail
    /// (a last event missing its blank line). An incomplete JSON line then fails to parse
    /// downstream, which is the right outcome for a truncated stream.
    pub fn finish_each(&mut self, on_event: &mut dyn FnMut(SseEvent<'_>)) {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let line = String::from_utf8_lossy(&rest);
            self.line(line.trim_end_matches('\r'), on_event);
        }
        self.dispatch(on_event);
    }

    /// Reads the complete lines of `buf`; returns the bytes consumed.
    fn lines(&mut self, buf: &[u8], on_event: &mut dyn FnMut(SseEvent<'_>)) -> usize {
        let mut start = 0;
        while let Some((end, next)) = line_end(&buf[start..]) {
            let bytes = &buf[start..start + end];
            if let Some(used) = self.lone_data_event(bytes, &buf[start + next..], on_event) {
                start += next + used;
                continue;
            }
            // Valid UTF-8 (the norm) is borrowed as is; only a broken line pays for
            // the lossy copy.
            let line = match std::str::from_utf8(bytes) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(bytes),
            };
            start += next;
            self.line(&line, on_event);
        }
        start
    }

    /// The common case, taken straight from the input: `line` is a `data:` line with
    /// no data pending, and the blank line that ends the event is at the start of
    /// `rest`. Its value is dispatched without being copied, and the blank line's
    /// length is returned. Anything else (the first line, several data lines, invalid
    /// UTF-8, an event cut by a read) goes line by line.
    fn lone_data_event(
        &mut self,
        line: &[u8],
        rest: &[u8],
        on_event: &mut dyn FnMut(SseEvent<'_>),
    ) -> Option<usize> {
        if self.has_data || !self.started {
            return None;
        }
        let value = line.strip_prefix(b"data:")?;
        let (0, used) = line_end(rest)? else {
            return None;
        };
        let value = std::str::from_utf8(value).ok()?;
        on_event(SseEvent {
            event: self.has_event.then_some(self.event.as_str()),
            data: value.strip_prefix(' ').unwrap_or(value),
        });
        self.has_event = false;
        Some(used)
    }

    fn line(&mut self, line: &str, on_event: &mut dyn FnMut(SseEvent<'_>)) {
        let line = if self.started {
            line
        } else {
            self.started = true;
            line.strip_prefix('\u{feff}').unwrap_or(line)
        };
        if line.is_empty() {
            return self.dispatch(on_event);
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
                self.has_event = true;
            }
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                } else {
                    self.data.clear();
                    self.has_data = true;
                }
                self.data.push_str(value);
            }
            _ => {}
        }
    }

    /// A blank line: hand over the event gathered so far (none without data).
    fn dispatch(&mut self, on_event: &mut dyn FnMut(SseEvent<'_>)) {
        if self.has_data {
            on_event(SseEvent {
                event: self.has_event.then_some(self.event.as_str()),
                data: &self.data,
            });
        }
        self.has_event = false;
        self.has_data = false;
    }

    /// Owned copies of the events `bytes` complete (tests and other cold paths).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<OwnedSseEvent> {
        let mut out = Vec::new();
        // An oversized event only cuts the list short here.
        let _ = self.feed_each(bytes, &mut |ev| out.push(OwnedSseEvent::from(ev)));
        out
    }

    /// Owned copies of what [`SseParser::finish_each`] dispatches.
    pub fn finish(&mut self) -> Vec<OwnedSseEvent> {
        let mut out = Vec::new();
        self.finish_each(&mut |ev| out.push(OwnedSseEvent::from(ev)));
        out
    }
}

/// An event copied out of the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSseEvent {
    /// The `event:` field, when the server named the event.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

impl OwnedSseEvent {
    /// The borrowed view translators take.
    pub fn as_event(&self) -> SseEvent<'_> {
        SseEvent {
            event: self.event.as_deref(),
            data: &self.data,
        }
    }
}

impl From<SseEvent<'_>> for OwnedSseEvent {
    fn from(ev: SseEvent<'_>) -> OwnedSseEvent {
        OwnedSseEvent {
            event: ev.event.map(str::to_string),
            data: ev.data.to_string(),
        }
    }
}

/// Where the first line of `buf` ends: (line length, bytes to consume incl. the line end).
/// A CR at the very end waits for more input, since an LF may follow.
fn line_end(buf: &[u8]) -> Option<(usize, usize)> {
    let pos = memchr::memchr2(b'\n', b'\r', buf)?;
    if buf[pos] == b'\n' {
        return Some((pos, pos + 1));
    }
    match buf.get(pos + 1) {
        Some(b'\n') => Some((pos, pos + 2)),
        Some(_) => Some((pos, pos + 1)),
        None => None,
    }
}

/// `data: <json>\n\n`.
pub fn encode_data(json: &Value) -> Bytes {
    encode_serialized(json)
}

/// `data: <json>\n\n`, serialising `value` straight into the frame.
pub fn encode_serialized(value: &impl serde::Serialize) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut out, value).is_err() {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(event: Option<&str>, data: &str) -> OwnedSseEvent {
        OwnedSseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    #[test]
    fn an_event_without_end_is_cut_at_the_cap_not_buffered_forever() {
        let mut p = SseParser::new();
        let mut seen = 0;
        let chunk = vec![b'x'; 1024 * 1024];
        assert!(p.feed_each(b"data: ", &mut |_| seen += 1).is_ok());
        let mut result = Ok(());
        for _ in 0..40 {
            result = p.feed_each(&chunk, &mut |_| seen += 1);
            if result.is_err() {
                break;
            }
        }
        assert!(result.is_err(), "a 40 MiB line is refused");
        assert_eq!(seen, 0);
        // Many data lines of one event count too.
        let mut p = SseParser::new();
        let line = format!("data: {}\n", "y".repeat(1024 * 1024));
        let refused = (0..40).any(|_| p.feed_each(line.as_bytes(), &mut |_| {}).is_err());
        assert!(refused);
        // A normal stream is untouched.
        let mut p = SseParser::new();
        assert!(p.feed_each(b"data: {}\n\n", &mut |_| seen += 1).is_ok());
        assert_eq!(seen, 1);
    }

    #[test]
    fn lf_framing_with_event_names_and_comments() {
        let mut p = SseParser::new();
        let out = p.feed(b": ping\n\nevent: message_start\ndata: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(
            out,
            vec![ev(Some("message_start"), "{\"a\":1}"), ev(None, "[DONE]")]
        );
    }

    #[test]
    fn crlf_framing_split_at_every_byte() {
        let input = b"data: {\"x\":1}\r\n\r\ndata: {\"x\":2}\r\n\r\n";
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for b in input.iter() {
            out.extend(p.feed(&[*b]));
        }
        assert_eq!(out, vec![ev(None, "{\"x\":1}"), ev(None, "{\"x\":2}")]);
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_events() {
        let input =
            "data: 你好\n\nevent: e\r\ndata: {\"x\":\"é\"}\r\n\r\ndata: a\rdata: b\n\n".as_bytes();
        let whole = SseParser::new().feed(input);
        assert_eq!(
            whole,
            vec![
                ev(None, "你好"),
                ev(Some("e"), "{\"x\":\"é\"}"),
                ev(None, "a\nb")
            ]
        );
        for cut in 0..=input.len() {
            let mut p = SseParser::new();
            let mut out = p.feed(&input[..cut]);
            out.extend(p.feed(&input[cut..]));
            out.extend(p.finish());
            assert_eq!(out, whole, "split at byte {cut}");
        }
    }

    #[test]
    fn an_event_name_belongs_to_its_own_event_only() {
        let mut p = SseParser::new();
        let out = p.feed(b": hi\n\nevent: e\ndata: 1\n\ndata: 2\n\ndata:3\n\n");
        assert_eq!(out, vec![ev(Some("e"), "1"), ev(None, "2"), ev(None, "3")]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let out = SseParser::new().feed(b"data: a\xffb\n\ndata: c\xffd\n\n");
        assert_eq!(out, vec![ev(None, "a\u{fffd}b"), ev(None, "c\u{fffd}d")]);
    }

    #[test]
    fn multi_line_data_is_joined_and_no_space_is_fine() {
        let mut p = SseParser::new();
        let out = p.feed("data:line1\ndata: line2\r\rdata: é\n\n".as_bytes());
        assert_eq!(out, vec![ev(None, "line1\nline2"), ev(None, "é")]);
    }

    #[test]
    fn finish_flushes_a_last_event_without_blank_line() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: [DONE]").is_empty());
        assert_eq!(p.finish(), vec![ev(None, "[DONE]")]);
        assert!(SseParser::new().finish().is_empty());
    }

    #[test]
    fn encode_data_frames_one_event() {
        assert_eq!(&encode_data(&json!({"a": 1}))[..], b"data: {\"a\":1}\n\n");
        assert_eq!(DONE, b"data: [DONE]\n\n");
    }
}
