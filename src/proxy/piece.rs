//! What a translated stream yields: a chunk to render, or, for the plain text deltas
//! that make up most of a stream, the provider's JSON string literal, copied into the
//! client's event as it is.
//!
//! Decoding a text fragment, wrapping it in a `ChatChunk` and escaping it again cost
//! more than everything else a streamed event needs. When the provider's literal is
//! already exactly what serde_json would write for its text (the norm: providers escape
//! `"`, `\` and control characters the same way), copying it gives the same bytes. A
//! literal written any other way (`\u00e9`, `\/`) takes the `ChatChunk` path.

use std::rc::Rc;

use super::types::{ChatChunk, ChunkChoice, Delta};

/// One item of a translated stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// A chunk to render.
    Chunk(ChatChunk),
    /// A text fragment of choice 0, nothing else in its event.
    Text(TextDelta),
}

impl Piece {
    /// The chunk this piece stands for (tests and the slow paths).
    pub fn into_chunk(self) -> ChatChunk {
        match self {
            Piece::Chunk(chunk) => chunk,
            Piece::Text(text) => text.to_chunk(),
        }
    }
}

/// What every chunk of one stream repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    /// The completion id.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// Model as reported.
    pub model: String,
}

/// A text fragment kept as the JSON string literal the provider sent.
#[derive(Debug, Clone, PartialEq)]
pub struct TextDelta {
    /// Shared by the stream's text deltas, so a delta costs no copy of id and model.
    pub head: Rc<StreamHead>,
    /// The text as a JSON string literal, quotes included, escaped exactly as
    /// serde_json escapes (checked by [`canonical_literal`]).
    literal: Box<str>,
}

impl TextDelta {
    /// A delta for `literal`, or `None` when it is not a canonical string literal.
    pub fn new(head: &Rc<StreamHead>, literal: &str) -> Option<TextDelta> {
        canonical_literal(literal).then(|| TextDelta {
            head: Rc::clone(head),
            literal: literal.into(),
        })
    }

    /// Characters of the decoded text (each escape is one character).
    pub fn chars(&self) -> u64 {
        let inner = &self.literal.as_bytes()[1..self.literal.len() - 1];
        let starts = inner.iter().filter(|b| (**b & 0xC0) != 0x80).count();
        let escapes = escapes(inner);
        (starts - escapes) as u64
    }

    /// The decoded text.
    pub fn text(&self) -> String {
        decode_canonical(&self.literal)
    }

    /// The same delta as a chunk.
    pub fn to_chunk(&self) -> ChatChunk {
        ChatChunk::single(
            &self.head.id,
            self.head.created,
            &self.head.model,
            ChunkChoice {
                index: 0,
                delta: Delta::text(self.text()),
                finish_reason: None,
                logprobs: None,
            },
        )
    }
}

/// The text of a literal [`canonical_literal`] accepts, or `None` for any other.
pub fn decode_literal(literal: &str) -> Option<String> {
    canonical_literal(literal).then(|| decode_canonical(literal))
}

/// Decodes a canonical literal (only the escapes it allows).
fn decode_canonical(literal: &str) -> String {
    let inner = &literal[1..literal.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some(other) => other,
            None => break,
        });
    }
    out
}

/// Number of backslash escapes in the inside of a canonical literal.
fn escapes(inner: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while let Some(pos) = memchr::memchr(b'\\', &inner[i..]) {
        n += 1;
        i += pos + 2;
        if i >= inner.len() {
            break;
        }
    }
    n
}

/// True when `literal` is one JSON string literal written as serde_json writes its
/// text: quotes at both ends and nowhere unescaped inside, no control characters, and
/// only the escapes serde_json uses for `"`, `\`, and the five short control forms.
pub fn canonical_literal(literal: &str) -> bool {
    let bytes = literal.as_bytes();
    if bytes.len() < 2 || bytes[0] != b'"' || bytes[bytes.len() - 1] != b'"' {
        return false;
    }
    let inner = &bytes[1..bytes.len() - 1];
    let mut i = 0;
    while i < inner.len() {
        match inner[i] {
            b'\\' => match inner.get(i + 1) {
                Some(b'"' | b'\\' | b'n' | b'r' | b't' | b'b' | b'f') => i += 2,
                _ => return false,
            },
            b'"' | 0..=0x1F => return false,
            _ => i += 1,
        }
    }
    true
}

/// Writes text deltas as OpenAI stream events; remembers the part after the text for
/// the stream's head, which is the same for every delta of a stream.
#[derive(Debug, Default)]
pub struct TextWriter {
    head: Option<Rc<StreamHead>>,
    include_usage: bool,
    tail: Vec<u8>,
}

/// Everything before the text in a text delta's event.
const TEXT_PREFIX: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":";

impl TextWriter {
    /// Appends `delta` as one SSE event: the same bytes as
    /// `delta.to_chunk().write_openai_sse(include_usage, out)`.
    pub fn write(&mut self, delta: &TextDelta, include_usage: bool, out: &mut Vec<u8>) {
        let fresh = self
            .head
            .as_ref()
            .is_some_and(|h| Rc::ptr_eq(h, &delta.head))
            && self.include_usage == include_usage;
        if !fresh {
            self.tail = tail(&delta.head, include_usage);
            self.head = Some(Rc::clone(&delta.head));
            self.include_usage = include_usage;
        }
        out.extend_from_slice(TEXT_PREFIX);
        out.extend_from_slice(delta.literal.as_bytes());
        out.extend_from_slice(&self.tail);
    }
}

/// The rest of a text delta's event after its text, rendered from an empty-text chunk
/// so it cannot drift from the chunk writer.
fn tail(head: &StreamHead, include_usage: bool) -> Vec<u8> {
    let empty = ChatChunk::single(
        &head.id,
        head.created,
        &head.model,
        ChunkChoice {
            index: 0,
            delta: Delta::text(String::new()),
            finish_reason: None,
            logprobs: None,
        },
    );
    let mut event = Vec::new();
    empty.write_openai_sse(include_usage, &mut event);
    let start = TEXT_PREFIX.len() + 2;
    debug_assert!(event.starts_with(TEXT_PREFIX) && event[TEXT_PREFIX.len()..start] == *b"\"\"");
    event.split_off(start.min(event.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Rc<StreamHead> {
        Rc::new(StreamHead {
            id: "chatcmpl-\"1\"".into(),
            created: 1_767_225_600,
            model: "gpt-4o-mini".into(),
        })
    }

    const TEXTS: &[&str] = &[
        "",
        "Hello!",
        " say \"hi\" \\ now",
        "line\nbreak\ttab\rcr\u{8}\u{c}",
        "你好，世界 😀 é",
        "\u{7f} del is not escaped",
    ];

    /// serde_json's own literal for every sample is canonical, and the delta made from
    /// it decodes to the text, counts its characters and renders the chunk's bytes.
    #[test]
    fn serde_literals_round_trip_through_text_deltas() {
        let head = head();
        let mut writer = TextWriter::default();
        for text in TEXTS {
            let literal = serde_json::to_string(text).expect("json");
            let delta = TextDelta::new(&head, &literal).expect("canonical");
            assert_eq!(delta.text(), *text);
            assert_eq!(delta.chars(), text.chars().count() as u64, "{text:?}");
            for include_usage in [false, true] {
                let mut fast = Vec::new();
                writer.write(&delta, include_usage, &mut fast);
                let mut slow = Vec::new();
                delta.to_chunk().write_openai_sse(include_usage, &mut slow);
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&slow)
                );
            }
        }
    }

    /// Literals serde_json would not write that way, or that are not one literal, are
    /// refused (the event then takes the chunk path).
    #[test]
    fn other_spellings_and_broken_literals_are_refused() {
        for literal in [
            r#""caf\u00e9""#,
            r#""a\/b""#,
            r#""\u0001""#,
            "\"raw\ncontrol\"",
            r#""a"b""#,
            r#""unterminated\""#,
            r#""trailing\"#,
            r#"no quotes"#,
            r#"""#,
            "",
        ] {
            assert!(!canonical_literal(literal), "{literal}");
        }
    }

    /// The writer notices a new head (a stream whose model changed) and a change of
    /// `include_usage`.
    #[test]
    fn the_cached_tail_follows_the_head() {
        let mut writer = TextWriter::default();
        let first = TextDelta::new(&head(), "\"a\"").expect("delta");
        let other = Rc::new(StreamHead {
            model: "other-model".into(),
            ..(*head()).clone()
        });
        let second = TextDelta::new(&other, "\"b\"").expect("delta");
        for (delta, usage) in [(&first, false), (&second, false), (&second, true)] {
            let mut fast = Vec::new();
            writer.write(delta, usage, &mut fast);
            let mut slow = Vec::new();
            delta.to_chunk().write_openai_sse(usage, &mut slow);
            assert_eq!(fast, slow);
        }
    }
}
