//! The fast path for the chunks that make up an ordinary OpenAI-shaped stream: one
//! choice, index 0, whose delta has at most a role and a text (the role chunk, the
//! text chunks, the finishing chunk), and the usage-only chunk. Such a chunk is walked
//! once without building anything; a text chunk's `content` literal is then handed on
//! as it is (see `piece`). Any other chunk (tool calls, several choices, usage beside a
//! choice, errors) and anything unexpected returns `None`, and the chunk goes through
//! the typed parse, which has the final word on errors.

use crate::proxy::json_scan::{once, Reader};

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

impl<'a> Reader<'a> {
    /// `[ {one choice} ]` whose choice is index 0 with a plain delta.
    fn single_choice(&mut self, chunk: &mut PlainChunk<'a>) -> Option<()> {
        self.eat(b'[')?;
        let (mut index, mut delta, mut finish) = (None, None, None);
        self.object(|r, key| {
            match key {
                "index" => once(&mut index, r.unsigned()?)?,
                "delta" => once(&mut delta, r.plain_delta(chunk)?)?,
                "finish_reason" => once(&mut finish, r.or_null(Reader::plain_string)?)?,
                // Log probabilities are carried by the typed path only.
                "logprobs" => r.null()?,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = r#"{"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hel\"lo\n"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x1"}"#;

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
        let spaced = r#" { "choices" : [ { "delta" : { "refusal" : null , "content" : "" } , "index" : 0 , "logprobs" : null } ] , "id" : "c" } "#;
        assert_eq!(
            plain_chunk(spaced),
            Some(PlainChunk {
                id: Some("c"),
                content: Some((spaced.find(r#""""#).expect("literal"), r#""""#)),
                ..PlainChunk::default()
            })
        );
    }

    #[test]
    fn a_chunk_with_log_probabilities_takes_the_typed_path() {
        let with_logprobs = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[{"token":"x","logprob":-0.5,"bytes":[120],"top_logprobs":[]}]},"finish_reason":null}]}"#;
        assert_eq!(plain_chunk(with_logprobs), None);
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
