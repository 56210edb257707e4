//! The fast path for the chunks that make up most of an OpenAI-shaped stream: one
//! choice, index 0, whose delta is only a text fragment. Such a chunk is walked once,
//! without building anything, and its `content` literal is handed on as it is (see
//! `piece`). Any other chunk, and anything unexpected in this one, returns `None`,
//! and the chunk goes through the typed parse, which has the final word on errors.

/// What a text-only chunk carries that the stream needs.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TextChunk<'a> {
    /// The `model` string's inside, when it has no escapes (else the chunk is refused).
    pub model: Option<&'a str>,
    /// The `content` string literal, quotes included.
    pub literal: &'a str,
    /// Where the literal starts in the chunk's text.
    pub start: usize,
}

/// Deepest nesting skipped inside ignored fields.
const MAX_DEPTH: u32 = 32;

/// The chunk's text literal and model, when `data` is a chunk the fast path can take:
/// exactly one choice with index 0, a delta with `content` (a string) and at most a null
/// `refusal`, no finish reason, no usage; other fields (id, object, created,
/// system_fingerprint, logprobs, …) are skipped, as the typed parse ignores them too.
pub(super) fn text_chunk(data: &str) -> Option<TextChunk<'_>> {
    let mut r = Reader::new(data);
    let mut model = None;
    let mut literal = None;
    r.object(|r, key| {
        match key {
            "model" => model = Some(r.plain_string()?),
            "choices" => literal = Some(r.single_text_choice()?),
            "usage" => r.null()?,
            "error" => return None,
            _ => r.skip_value(0)?,
        }
        Some(())
    })?;
    r.end()?;
    let (start, literal) = literal?;
    Some(TextChunk {
        model,
        literal,
        start,
    })
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

    /// A string literal, quotes included; escapes are skipped, not checked. A plain
    /// loop: the strings of a chunk are a few bytes long, shorter than a SIMD search
    /// takes to set up.
    fn string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos;
        let bytes = self.bytes();
        let mut i = start + 1;
        loop {
            match *bytes.get(i)? {
                b'"' => {
                    self.pos = i + 1;
                    return self.text.get(start..self.pos);
                }
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
    }

    /// A string's inside, when it has no escapes.
    fn plain_string(&mut self) -> Option<&'a str> {
        let literal = self.string()?;
        let inner = &literal[1..literal.len() - 1];
        (!inner.contains('\\')).then_some(inner)
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

    /// `[ {one choice} ]` whose choice is index 0 with a text-only delta and no finish
    /// reason; gives the content literal and where it starts.
    fn single_text_choice(&mut self) -> Option<(usize, &'a str)> {
        self.eat(b'[')?;
        let mut literal = None;
        let mut index_zero = false;
        self.object(|r, key| {
            match key {
                "index" => {
                    r.eat(b'0')?;
                    index_zero = !matches!(r.bytes().get(r.pos), Some(b'0'..=b'9' | b'.'));
                }
                "delta" => literal = Some(r.text_delta()?),
                "finish_reason" => r.null()?,
                _ => r.skip_value(0)?,
            }
            Some(())
        })?;
        self.eat(b']')?;
        index_zero.then_some(literal?)
    }

    /// `{"content": "…"}`, optionally with `"refusal": null`.
    fn text_delta(&mut self) -> Option<(usize, &'a str)> {
        let mut literal = None;
        self.object(|r, key| {
            match key {
                "content" => {
                    r.ws();
                    literal = Some((r.pos, r.string()?));
                }
                "refusal" => r.null()?,
                _ => return None,
            }
            Some(())
        })?;
        literal
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
            b'-' | b'0'..=b'9' => {
                let rest = &self.bytes()[self.pos..];
                let len = rest
                    .iter()
                    .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count();
                self.pos += len;
                Some(())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = r#"{"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hel\"lo\n"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x1"}"#;

    #[test]
    fn a_text_chunk_gives_its_literal_and_model() {
        assert_eq!(
            text_chunk(REAL),
            Some(TextChunk {
                model: Some("gpt-4o-mini-2024-07-18"),
                literal: r#""Hel\"lo\n""#,
                start: REAL.find(r#""Hel"#).expect("literal"),
            })
        );
        let spaced = r#" { "choices" : [ { "delta" : { "refusal" : null , "content" : "" } , "index" : 0 , "logprobs" : {"content":[{"token":"x","logprob":-0.5,"bytes":[1,2]}]} } ] , "id" : "c" } "#;
        assert_eq!(
            text_chunk(spaced),
            Some(TextChunk {
                model: None,
                literal: r#""""#,
                start: spaced.find(r#""""#).expect("literal"),
            })
        );
    }

    /// Every chunk that needs more than a text copy goes to the typed parse.
    #[test]
    fn anything_else_is_left_to_the_typed_parse() {
        let refused = [
            // role, tool calls, finish reason, usage, a second choice, another index
            REAL.replace(
                r#"{"content":"Hel"#,
                r#"{"role":"assistant","content":"Hel"#,
            ),
            REAL.replace(
                r#"{"content":"Hel\"lo\n"}"#,
                r#"{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}"#,
            ),
            REAL.replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#),
            REAL.replace(r#""usage":null"#, r#""usage":{"prompt_tokens":1}"#),
            REAL.replace(
                r#"}],"usage""#,
                r#"},{"index":1,"delta":{"content":"x"}}],"usage""#,
            ),
            REAL.replace(r#""index":0"#, r#""index":01"#),
            REAL.replace(r#""index":0"#, r#""index":2"#),
            REAL.replace(r#""index":0"#, r#""index":0.5"#),
            // no content, null content, an error, broken or trailing JSON
            REAL.replace(r#""content":"Hel\"lo\n""#, r#""refusal":null"#),
            REAL.replace(r#""content":"Hel\"lo\n""#, r#""content":null"#),
            r#"{"error":{"message":"overloaded"},"choices":[{"index":0,"delta":{"content":"x"}}]}"#
                .to_string(),
            REAL[..REAL.len() - 1].to_string(),
            format!("{REAL}x"),
            "[DONE]".to_string(),
            String::new(),
        ];
        for data in &refused {
            assert_eq!(text_chunk(data), None, "{data}");
        }
        // Without a usage field it is still a text chunk.
        assert!(text_chunk(&REAL.replace(r#""usage":null,"#, "")).is_some());
    }

    #[test]
    fn an_escaped_model_name_is_not_taken_plain() {
        let data = REAL.replace("gpt-4o-mini-2024-07-18", r"gpt\u002d4o");
        assert_eq!(text_chunk(&data), None);
    }
}
