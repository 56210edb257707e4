//! The fast path for the chunks that make up an ordinary OpenAI-shaped stream: one
//! choice, index 0, whose delta has at most a role and a text (the role chunk, the
//! text chunks, the finishing chunk), and the usage-only chunk. Such a chunk is walked
//! once without building anything; a text chunk's `content` literal is then handed on
//! as it is (see `piece`). Any other chunk (tool calls, several choices, usage beside a
//! choice, errors) and anything unexpected returns `None`, and the chunk goes through
//! the typed parse, which has the final word on errors.

/// What a plain chunk carries that the stream needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct PlainChunk<'a> {
    /// The `id` string's inside, when present without escapes.
    pub id: Option<&'a str>,
    /// The `model` string's inside, when present without escapes.
    pub model: Option<&'a str>,
    /// `delta.role`'s inside.
    pub role: Option<&'a str>,
    /// `delta.content` as a string literal, quotes included, and where it starts.
    pub content: Option<(usize, &'a str)>,
    /// `finish_reason`'s inside, when not null.
    pub finish_reason: Option<&'a str>,
    /// The usage report of a usage-only chunk (`"choices": []`).
    pub usage: Option<PlainUsage>,
}

/// The usage fields the typed parse reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct PlainUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// `prompt_tokens_details.cached_tokens`.
    pub cached_tokens: Option<u64>,
    /// DeepSeek's name for cache hits.
    pub prompt_cache_hit_tokens: Option<u64>,
}

impl PlainChunk<'_> {
    /// Only a text fragment: no role, no finish reason.
    pub fn is_text(&self) -> bool {
        self.content.is_some() && self.role.is_none() && self.finish_reason.is_none()
    }
}

/// Deepest nesting skipped inside ignored fields.
const MAX_DEPTH: u32 = 32;

/// The chunk, when `data` is one the fast path can take: exactly one choice with index
/// 0, a delta with at most `role`, `content` (a string) and a null `refusal`, and no
/// usage; or no choice and a usage report. Other fields (object, created,
/// system_fingerprint, logprobs, …) are skipped, as the typed parse ignores them too.
/// An escaped `id` or `model`, or a field the typed parse reads given twice, refuses
/// the chunk.
pub(super) fn plain_chunk(data: &str) -> Option<PlainChunk<'_>> {
    let mut r = Reader::new(data);
    let mut chunk = PlainChunk::default();
    let (mut choices, mut choice) = (false, false);
    let mut usage_seen = false;
    r.object(|r, key| {
        match key {
            "id" => once(&mut chunk.id, r.plain_string()?)?,
            "model" => once(&mut chunk.model, r.plain_string()?)?,
            "choices" if !choices => {
                choices = true;
                if !r.empty_array() {
                    r.single_choice(&mut chunk)?;
                    choice = true;
                }
            }
            "usage" if !usage_seen => {
                usage_seen = true;
                if r.null().is_none() {
                    chunk.usage = Some(r.usage()?);
                }
            }
            "choices" | "usage" | "error" => return None,
            _ => r.skip_value(0)?,
        }
        Some(())
    })?;
    r.end()?;
    match (choice, &chunk.usage) {
        (true, None) | (false, Some(_)) => Some(chunk),
        _ => None,
    }
}

/// Fills `slot` the first time; a second value refuses the chunk, as serde refuses a
/// duplicate field.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.is_none().then(|| *slot = Some(value))
}

/// The bytes a string scan stops at: the closing quote, an escape, and the control
/// characters JSON refuses raw. A table lookup per byte, with no range tests.
const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Where the first byte at or after `i` that a string scan stops at is, eight bytes
/// at a time: a word's quote, backslash and control bytes are found with the
/// has-zero-byte and has-byte-less-than tricks (the lowest flagged byte of each is
/// exact, and bytes ≥ 0x80 of UTF-8 text are never flagged), the tail a byte at a time.
fn find_stop(bytes: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().ok()?);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let hits = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & HIGHS;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while !STRING_STOP[usize::from(*bytes.get(i)?)] {
        i += 1;
    }
    Some(i)
}

/// A cursor over JSON text that only recognises what the fast path needs.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Reader<'a> {
        Reader { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn eat_word(&mut self, word: &str) -> Option<()> {
        self.ws();
        self.text[self.pos..]
            .starts_with(word)
            .then(|| self.pos += word.len())
    }

    fn end(&mut self) -> Option<()> {
        self.ws();
        (self.pos == self.text.len()).then_some(())
    }

    fn null(&mut self) -> Option<()> {
        self.eat_word("null")
    }

    /// `null` (`Some(None)`), or what `read` reads (`Some(Some(_))`).
    fn or_null<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.null() {
            Some(()) => Some(None),
            None => read(self).map(Some),
        }
    }

    /// A string literal, quotes included, and whether it has escapes. Refuses what
    /// JSON refuses (raw control characters, unknown escapes), so the fast path takes no
    /// chunk the typed parse would reject. A plain scan: the strings of a chunk are a
    /// few bytes long, shorter than a SIMD search takes to set up.
    fn scan_string(&mut self) -> Option<(&'a str, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos;
        let bytes = self.bytes();
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            i = find_stop(bytes, i)?;
            match bytes[i] {
                b'"' => {
                    self.pos = i + 1;
                    return Some((self.text.get(start..self.pos)?, escaped));
                }
                b'\\' => {
                    escaped = true;
                    i += match bytes.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' if bytes.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => 6,
                        _ => return None,
                    };
                }
                _ => return None,
            }
        }
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let bytes = self.bytes();
        let digits = |from: usize| {
            bytes.get(from..).map_or(0, |rest| {
                rest.iter().take_while(|b| b.is_ascii_digit()).count()
            })
        };
        let mut i = self.pos;
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        match digits(i) {
            0 => return None,
            n if n > 1 && bytes[i] == b'0' => return None,
            n => i += n,
        }
        if bytes.get(i) == Some(&b'.') {
            let n = digits(i + 1);
            if n == 0 {
                return None;
            }
            i += 1 + n;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let n = digits(i);
            if n == 0 {
                return None;
            }
            i += n;
        }
        self.pos = i;
        Some(())
    }

    /// A string literal, quotes included.
    fn string(&mut self) -> Option<&'a str> {
        self.scan_string().map(|(literal, _)| literal)
    }

    /// A string's inside, when it has no escapes.
    fn plain_string(&mut self) -> Option<&'a str> {
        match self.scan_string()? {
            (literal, false) => Some(&literal[1..literal.len() - 1]),
            (_, true) => None,
        }
    }

    /// `{ "key": value, … }`, calling `field` at each value.
    fn object(
        &mut self,
        mut field: impl FnMut(&mut Reader<'a>, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.plain_string()?;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `[]`, consumed; anything else is left where it is.
    fn empty_array(&mut self) -> bool {
        let start = self.pos;
        if self.eat(b'[').is_some() && self.eat(b']').is_some() {
            return true;
        }
        self.pos = start;
        false
    }

    /// `[ {one choice} ]` whose choice is index 0 with a plain delta.
    fn single_choice(&mut self, chunk: &mut PlainChunk<'a>) -> Option<()> {
        self.eat(b'[')?;
        let (mut index, mut delta, mut finish) = (None, None, None);
        self.object(|r, key| {
            match key {
                "index" => once(&mut index, r.unsigned()?)?,
                "delta" => once(&mut delta, r.plain_delta(chunk)?)?,
                "finish_reason" => once(&mut finish, r.or_null(Reader::plain_string)?)?,
                _ => r.skip_value(0)?,
            }
            Some(())
        })?;
        self.eat(b']')?;
        chunk.finish_reason = finish.flatten();
        (index == Some(0)).then_some(())
    }

    /// `{"role": "…", "content": "…"}`, each optional, with at most a null `refusal`.
    fn plain_delta(&mut self, chunk: &mut PlainChunk<'a>) -> Option<()> {
        self.object(|r, key| {
            match key {
                "content" => {
                    r.ws();
                    let at = r.pos;
                    once(&mut chunk.content, (at, r.string()?))?;
                }
                "role" => once(&mut chunk.role, r.plain_string()?)?,
                "refusal" => r.null()?,
                _ => return None,
            }
            Some(())
        })
    }

    /// The usage object: the fields the typed parse reads, others skipped.
    fn usage(&mut self) -> Option<PlainUsage> {
        let (mut prompt, mut completion, mut details, mut hits) = (None, None, None, None);
        self.object(|r, key| {
            match key {
                "prompt_tokens" => once(&mut prompt, r.unsigned()?)?,
                "completion_tokens" => once(&mut completion, r.unsigned()?)?,
                "prompt_tokens_details" => {
                    once(&mut details, r.or_null(Reader::cached_tokens)?.flatten())?
                }
                "prompt_cache_hit_tokens" => once(&mut hits, r.or_null(Reader::unsigned)?)?,
                _ => r.skip_value(1)?,
            }
            Some(())
        })?;
        Some(PlainUsage {
            prompt_tokens: prompt.unwrap_or(0),
            completion_tokens: completion.unwrap_or(0),
            cached_tokens: details.flatten(),
            prompt_cache_hit_tokens: hits.flatten(),
        })
    }

    /// `prompt_tokens_details`: its `cached_tokens`, others skipped.
    fn cached_tokens(&mut self) -> Option<Option<u64>> {
        let mut cached = None;
        self.object(|r, key| {
            match key {
                "cached_tokens" => once(&mut cached, r.or_null(Reader::unsigned)?)?,
                _ => r.skip_value(2)?,
            }
            Some(())
        })?;
        Some(cached.flatten())
    }

    /// A JSON integer that fits a `u64` (a fraction or exponent is a float to serde).
    fn unsigned(&mut self) -> Option<u64> {
        self.ws();
        let bytes = self.bytes();
        let digits = bytes[self.pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = self.text.get(self.pos..self.pos + digits)?;
        if digits == 0 || (digits > 1 && text.starts_with('0')) {
            return None;
        }
        if matches!(bytes.get(self.pos + digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = text.parse().ok()?;
        self.pos += digits;
        Some(value)
    }

    /// Any JSON value, not kept.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|r, _| r.skip_value(depth + 1)),
            b'[' => {
                self.pos += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.eat_word("true"),
            b'f' => self.eat_word("false"),
            b'n' => self.null(),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = r#"{"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hel\"lo\n"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x1"}"#;

    #[test]
    fn the_word_scan_stops_where_the_byte_scan_does() {
        let byte_scan = |bytes: &[u8], from: usize| {
            (from..bytes.len()).find(|&i| STRING_STOP[usize::from(bytes[i])])
        };
        let stops = ['"', '\\', '\u{0}', '\u{1f}', '\n'];
        let fillers = ['a', ' ', '\u{7f}', 'é', '你', '\u{20}', '!', '#', '[', ']'];
        for len in 0..40 {
            for stop in stops {
                for at in (0..len).step_by(3) {
                    let text: String = (0..len)
                        .map(|i| {
                            if i == at {
                                stop
                            } else {
                                fillers[i % fillers.len()]
                            }
                        })
                        .collect();
                    for from in 0..text.len().min(12) {
                        let bytes = text.as_bytes();
                        assert_eq!(
                            find_stop(bytes, from),
                            byte_scan(bytes, from),
                            "{text:?} from {from}"
                        );
                    }
                }
            }
            let plain: String = (0..len).map(|i| fillers[i % fillers.len()]).collect();
            assert_eq!(find_stop(plain.as_bytes(), 0), None);
        }
    }

    #[test]
    fn a_text_chunk_gives_its_literal_id_and_model() {
        let chunk = plain_chunk(REAL).expect("plain");
        assert_eq!(
            chunk,
            PlainChunk {
                id: Some("chatcmpl-B1"),
                model: Some("gpt-4o-mini-2024-07-18"),
                content: Some((REAL.find(r#""Hel"#).expect("literal"), r#""Hel\"lo\n""#)),
                ..PlainChunk::default()
            }
        );
        assert!(chunk.is_text());
        let spaced = r#" { "choices" : [ { "delta" : { "refusal" : null , "content" : "" } , "index" : 0 , "logprobs" : {"content":[{"token":"x","logprob":-0.5,"bytes":[1,2]}]} } ] , "id" : "c" } "#;
        assert_eq!(
            plain_chunk(spaced),
            Some(PlainChunk {
                id: Some("c"),
                content: Some((spaced.find(r#""""#).expect("literal"), r#""""#)),
                ..PlainChunk::default()
            })
        );
    }

    /// The role chunk and the finishing chunk are plain too, but not text.
    #[test]
    fn role_and_finish_chunks_are_read() {
        let role = REAL.replace(
            r#"{"content":"Hel\"lo\n"}"#,
            r#"{"role":"assistant","content":"","refusal":null}"#,
        );
        let chunk = plain_chunk(&role).expect("plain");
        assert_eq!(chunk.role, Some("assistant"));
        assert_eq!(chunk.content.map(|c| c.1), Some(r#""""#));
        assert!(!chunk.is_text());
        let finish = REAL
            .replace(r#"{"content":"Hel\"lo\n"}"#, "{}")
            .replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#);
        let chunk = plain_chunk(&finish).expect("plain");
        assert_eq!(
            (chunk.role, chunk.content, chunk.finish_reason),
            (None, None, Some("stop"))
        );
        assert!(!chunk.is_text());
    }

    /// The usage-only chunk gives the fields the typed parse reads.
    #[test]
    fn a_usage_chunk_is_read() {
        let usage = r#"{"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#;
        assert_eq!(
            plain_chunk(usage).and_then(|c| c.usage),
            Some(PlainUsage {
                prompt_tokens: 12,
                completion_tokens: 9,
                cached_tokens: Some(3),
                prompt_cache_hit_tokens: None,
            })
        );
        let deepseek = r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":1,"prompt_tokens_details":null,"prompt_cache_hit_tokens":4}}"#;
        assert_eq!(
            plain_chunk(deepseek).and_then(|c| c.usage),
            Some(PlainUsage {
                prompt_tokens: 7,
                completion_tokens: 1,
                cached_tokens: None,
                prompt_cache_hit_tokens: Some(4),
            })
        );
        // What serde refuses for these fields is refused here too.
        for bad in [
            r#"{"choices":[],"usage":{"prompt_tokens":1.0}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":-1}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":null}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1e3}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"prompt_tokens":2}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":18446744073709551616}}"#,
            r#"{"id":"a","id":"b","choices":[],"usage":{"prompt_tokens":1}}"#,
            r#"{"choices":[],"usage":null}"#,
            r#"{"choices":[],"choices":[],"usage":{"prompt_tokens":1}}"#,
        ] {
            assert_eq!(plain_chunk(bad), None, "{bad}");
        }
    }

    /// Every chunk that needs more than this goes to the typed parse.
    #[test]
    fn anything_else_is_left_to_the_typed_parse() {
        let refused = [
            // tool calls, usage, a second choice, no choice, another index
            REAL.replace(
                r#"{"content":"Hel\"lo\n"}"#,
                r#"{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}"#,
            ),
            REAL.replace(r#""usage":null"#, r#""usage":{"prompt_tokens":1}"#),
            REAL.replace(
                r#"}],"usage""#,
                r#"},{"index":1,"delta":{"content":"x"}}],"usage""#,
            ),
            REAL.replace(
                r#"[{"index":0,"delta":{"content":"Hel\"lo\n"},"logprobs":null,"finish_reason":null}]"#,
                "[]",
            ),
            REAL.replace(r#""index":0"#, r#""index":01"#),
            REAL.replace(r#""index":0"#, r#""index":2"#),
            REAL.replace(r#""index":0"#, r#""index":0.5"#),
            // a refusal, null content, escaped id or model, an error, broken JSON
            REAL.replace(r#""content":"Hel\"lo\n""#, r#""refusal":"no""#),
            REAL.replace(r#""content":"Hel\"lo\n""#, r#""content":null"#),
            REAL.replace("chatcmpl-B1", r"chatcmpl\u002dB1"),
            REAL.replace("gpt-4o-mini-2024-07-18", r"gpt\u002d4o"),
            r#"{"error":{"message":"overloaded"},"choices":[{"index":0,"delta":{"content":"x"}}]}"#
                .to_string(),
            REAL[..REAL.len() - 1].to_string(),
            format!("{REAL}x"),
            // JSON the typed parse refuses, in fields the fast path skips
            REAL.replace("fp_1", "fp\u{1}1"),
            REAL.replace("fp_1", r"fp\x"),
            REAL.replace("fp_1", r"fp\u12"),
            REAL.replace("1767225600", "0123"),
            REAL.replace("1767225600", "1."),
            REAL.replace("1767225600", "1e"),
            REAL.replace("1767225600", "--1"),
            REAL.replace("1767225600", "+1"),
            "[DONE]".to_string(),
            String::new(),
        ];
        for data in &refused {
            assert_eq!(plain_chunk(data), None, "{data}");
        }
        // Numbers and escapes JSON allows are skipped as they should be.
        for (from, to) in [
            ("1767225600", "-0.5e+3"),
            ("1767225600", "0"),
            ("1767225600", "12E7"),
            ("fp_1", r"fp\u00e9\/\n"),
        ] {
            let data = REAL.replace(from, to);
            assert!(plain_chunk(&data).is_some(), "{data}");
        }
        // Without a usage field it is still a text chunk.
        assert!(plain_chunk(&REAL.replace(r#""usage":null,"#, "")).is_some_and(|c| c.is_text()));
    }
}
