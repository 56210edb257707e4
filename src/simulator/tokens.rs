//! Deterministic token arithmetic and reply text for the simulator.
//!
//! Owns how many tokens a prompt "costs" and how a reply is split into pieces (one piece is
//! one completion token). It knows nothing about wire formats: each provider module extracts
//! the texts it wants counted and hands them here.

use serde_json::Value;

/// Fixed cost of one message (role, separators), like the real tokenizers' per-message overhead.
const PER_MESSAGE: u32 = 4;
/// Fixed cost of a whole request (priming of the reply).
const PER_REQUEST: u32 = 3;
/// How many characters of the last user text the reply quotes.
const QUOTE_CHARS: usize = 40;

/// Keys whose string values are structure, not text, and are not counted.
const STRUCTURAL_KEYS: &[&str] = &[
    "type",
    "role",
    "id",
    "tool_use_id",
    "tool_call_id",
    "media_type",
    "mimeType",
    "mime_type",
];

/// Tokens of one text: CJK characters count one each, other characters one per four.
pub fn text_tokens(text: &str) -> u32 {
    let (cjk, other) = text.chars().fold((0u32, 0u32), |(cjk, other), c| {
        if is_cjk(c) {
            (cjk + 1, other)
        } else {
            (cjk, other + 1)
        }
    });
    cjk + other.div_ceil(4)
}

/// Prompt tokens of a request made of `messages` texts (system prompt and tools included by
/// the caller as extra entries).
pub fn prompt_tokens<'a>(messages: impl IntoIterator<Item = &'a str>) -> u32 {
    PER_REQUEST
        + messages
            .into_iter()
            .map(|text| PER_MESSAGE + text_tokens(text))
            .sum::<u32>()
}

/// All human text inside a JSON value (string leaves, except structural keys), space-joined.
pub fn collect_text(value: &Value) -> String {
    let mut out = String::new();
    push_text(value, &mut out);
    out
}

fn push_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s);
        }
        Value::Array(items) => items.iter().for_each(|item| push_text(item, out)),
        Value::Object(map) => map
            .iter()
            .filter(|(key, _)| !STRUCTURAL_KEYS.contains(&key.as_str()))
            .for_each(|(_, item)| push_text(item, out)),
        Value::Number(n) => push_text(&Value::String(n.to_string()), out),
        Value::Bool(_) | Value::Null => {}
    }
}

/// The text of the last `user` message (OpenAI, Mistral and Anthropic message lists).
pub fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(collect_text)
        .unwrap_or_default()
}

/// The simulated reply text for `provider`/`model`, quoting the start of the user's text.
pub fn reply_text(provider: &str, model: &str, user_text: &str) -> String {
    let quote: String = user_text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(QUOTE_CHARS)
        .collect();
    let quote = if quote.is_empty() {
        "(no text)".to_string()
    } else {
        quote
    };
    format!("[simulated {provider} {model}] reply to: {quote}")
}

/// Splits a text into pieces, one per completion token: words (with their leading space) and
/// single CJK characters. Concatenating the pieces gives the text back (whitespace collapsed).
pub fn pieces(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut current, &mut out);
            pending_space = !out.is_empty();
            continue;
        }
        if is_cjk(c) {
            flush(&mut current, &mut out);
        }
        if pending_space {
            current.push(' ');
            pending_space = false;
        }
        current.push(c);
        if is_cjk(c) {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

fn flush(current: &mut String, out: &mut Vec<String>) {
    if !current.is_empty() {
        out.push(std::mem::take(current));
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303F      // CJK punctuation
        | 0x3040..=0x30FF    // kana
        | 0x3400..=0x4DBF    // extension A
        | 0x4E00..=0x9FFF    // unified ideographs
        | 0xAC00..=0xD7AF    // hangul
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0xFF00..=0xFFEF) // full-width forms
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_tokens_count_cjk_one_each_and_latin_per_four() {
        assert_eq!(text_tokens(""), 0);
        assert_eq!(text_tokens("abcd"), 1);
        assert_eq!(text_tokens("abcde"), 2);
        assert_eq!(text_tokens("你好"), 2);
        assert_eq!(text_tokens("你好 ab"), 3);
    }

    #[test]
    fn prompt_tokens_grow_with_the_input() {
        let short = prompt_tokens(["hi"]);
        let long = prompt_tokens(["hi", "a much longer second message here"]);
        assert_eq!(short, 3 + 4 + 1);
        assert!(long > short);
    }

    #[test]
    fn pieces_rejoin_to_the_text() {
        let text = "[simulated openai gpt-4o] reply to: 你好，世界 ok";
        let parts = pieces(text);
        assert_eq!(parts.concat(), text);
        assert_eq!(parts[0], "[simulated");
        assert_eq!(parts[1], " openai");
        assert!(parts.contains(&" 你".to_string()));
        assert!(parts.contains(&"好".to_string()));
        assert!(parts.contains(&" ok".to_string()));
    }

    #[test]
    fn collect_text_skips_structure() {
        let v = json!([{"type": "text", "text": "hello"}, {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]);
        assert_eq!(collect_text(&v), "hello 42");
    }

    #[test]
    fn reply_text_quotes_at_most_forty_chars() {
        let text = reply_text("gemini", "gemini-2.0-flash", &"x".repeat(100));
        assert!(text.ends_with(&"x".repeat(40)));
        assert!(!text.ends_with(&"x".repeat(41)));
    }
}
