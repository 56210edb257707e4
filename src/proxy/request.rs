//! Parsing and validating the client's OpenAI Chat Completions body into a `ChatRequest`.
//!
//! Unknown fields are ignored on purpose (clients send many): adapters build upstream
//! bodies from allowlists, so nothing unvetted reaches a provider. Message-level parsing
//! lives in `messages.rs`.

use serde_json::{Map, Value};

use super::messages::parse_messages;
use super::types::{ChatRequest, RequestError, Tool, ToolChoice};

/// The most choices (`n`) one request may ask for, as OpenAI allows.
const MAX_CHOICES: u32 = 128;

impl ChatRequest {
    /// Parse and validate an OpenAI Chat Completions request body.
    pub fn parse(body: &[u8]) -> Result<ChatRequest, RequestError> {
        if let Some(simple) = super::request_fast::parse_simple(body) {
            return Ok(simple);
        }
        ChatRequest::parse_full(body)
    }

    /// The full parser: every field, every shape, a precise error for what is wrong.
    fn parse_full(body: &[u8]) -> Result<ChatRequest, RequestError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| RequestError {
            message: format!("We could not parse the JSON body of your request: {e}"),
            param: None,
        })?;
        let Value::Object(obj) = value else {
            return Err(RequestError {
                message: "The request body must be a JSON object.".into(),
                param: None,
            });
        };
        let model = match obj.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(RequestError::param(
                    "model",
                    "you must provide a model parameter",
                ))
            }
            Some(_) => return Err(RequestError::param("model", "'model' must be a string")),
        };
        let (max_tokens, include_usage) = (max_tokens(&obj)?, include_usage(&obj)?);
        Ok(ChatRequest {
            model,
            messages: parse_messages(obj.get("messages"))?,
            stream: opt_bool(&obj, "stream")?.unwrap_or(false),
            include_usage,
            max_tokens,
            temperature: opt_range(&obj, "temperature", 0.0, 2.0)?,
            top_p: opt_range(&obj, "top_p", 0.0, 1.0)?,
            stop: stop(&obj)?,
            n: choices(&obj)?,
            seed: opt_i64(&obj, "seed")?,
            presence_penalty: opt_range(&obj, "presence_penalty", -2.0, 2.0)?,
            frequency_penalty: opt_range(&obj, "frequency_penalty", -2.0, 2.0)?,
            user: opt_string(&obj, "user")?,
            response_format: response_format(&obj)?,
            tools: tools(&obj)?,
            tool_choice: tool_choice(&obj)?,
            parallel_tool_calls: opt_bool(&obj, "parallel_tool_calls")?,
            logprobs: opt_bool(&obj, "logprobs")?.unwrap_or(false),
            top_logprobs: top_logprobs(&obj)?,
        })
    }

    /// Cheap prompt-size guess for budget reservation: one token per non-ASCII
    /// character (Chinese, Japanese and Korean text is about one token a character), ASCII
    /// characters / 3, plus 4 per message (+ tool schemas). Deliberately errs high: real
    /// tokenisers average ~4 ASCII characters a token.
    pub fn estimate_prompt_tokens(&self) -> u64 {
        let mut chars: u64 = 0;
        for m in &self.messages {
            chars += m.content.as_ref().map_or(0, |c| weighted_chars(&c.text()));
            chars += m.content.as_ref().map_or(0, image_chars);
            for call in &m.tool_calls {
                chars += (call.name.len() + call.arguments.chars().count()) as u64;
            }
        }
        for tool in &self.tools {
            chars += tool.name.len() as u64;
            chars += tool
                .description
                .as_ref()
                .map_or(0, |d| d.chars().count() as u64);
            chars += tool
                .parameters
                .as_ref()
                .map_or(0, |p| p.to_string().len() as u64);
        }
        chars.div_ceil(3) + 4 * self.messages.len() as u64 + 3
    }

    /// The output limit the client asked for (`max_tokens` / `max_completion_tokens`).
    pub fn requested_max_tokens(&self) -> Option<u32> {
        self.max_tokens
    }

    /// How many choices the provider is asked for (`n`, default 1).
    pub fn choices(&self) -> u32 {
        self.n.unwrap_or(1)
    }
}

/// ASCII characters count once, others three times (so `/ 3` gives one token each).
fn weighted_chars(text: &str) -> u64 {
    text.chars().map(|c| if c.is_ascii() { 1 } else { 3 }).sum()
}

/// Images cost tokens too: count a flat ~1000 tokens (3000 chars) per image.
fn image_chars(content: &super::types::Content) -> u64 {
    match content {
        super::types::Content::Text(_) => 0,
        super::types::Content::Parts(parts) => {
            let images = parts
                .iter()
                .filter(|p| matches!(p, super::types::ContentPart::Image { .. }))
                .count();
            images as u64 * 3000
        }
    }
}

/// The field's value, with JSON null treated as absent.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, RequestError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(RequestError::param(
            key,
            format!("'{key}' must be a boolean"),
        )),
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, RequestError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(RequestError::param(
            key,
            format!("'{key}' must be a string"),
        )),
    }
}

fn opt_range(
    obj: &Map<String, Value>,
    key: &str,
    lo: f64,
    hi: f64,
) -> Result<Option<f64>, RequestError> {
    let Some(v) = field(obj, key) else {
        return Ok(None);
    };
    let n = v
        .as_f64()
        .ok_or_else(|| RequestError::param(key, format!("'{key}' must be a number")))?;
    if !(lo..=hi).contains(&n) {
        return Err(RequestError::param(
            key,
            format!("'{key}' must be between {lo} and {hi}, got {n}"),
        ));
    }
    Ok(Some(n))
}

/// `n`: 1 to 128, as OpenAI allows (each choice is reserved against the budget).
fn choices(obj: &Map<String, Value>) -> Result<Option<u32>, RequestError> {
    let n = opt_u32(obj, "n", 1)?;
    if n.is_some_and(|n| n > MAX_CHOICES) {
        return Err(RequestError::param(
            "n",
            format!("'n' must be at most {MAX_CHOICES}"),
        ));
    }
    Ok(n)
}

fn opt_u32(obj: &Map<String, Value>, key: &str, min: u32) -> Result<Option<u32>, RequestError> {
    let Some(v) = field(obj, key) else {
        return Ok(None);
    };
    let n = v.as_u64().filter(|n| *n >= u64::from(min)).ok_or_else(|| {
        RequestError::param(key, format!("'{key}' must be an integer of at least {min}"))
    })?;
    let n =
        u32::try_from(n).map_err(|_| RequestError::param(key, format!("'{key}' is too large")))?;
    Ok(Some(n))
}

fn opt_i64(obj: &Map<String, Value>, key: &str) -> Result<Option<i64>, RequestError> {
    let Some(v) = field(obj, key) else {
        return Ok(None);
    };
    v.as_i64()
        .map(Some)
        .ok_or_else(|| RequestError::param(key, format!("'{key}' must be an integer")))
}

fn max_tokens(obj: &Map<String, Value>) -> Result<Option<u32>, RequestError> {
    match opt_u32(obj, "max_completion_tokens", 1)? {
        Some(n) => Ok(Some(n)),
        None => opt_u32(obj, "max_tokens", 1),
    }
}

fn include_usage(obj: &Map<String, Value>) -> Result<bool, RequestError> {
    match field(obj, "stream_options") {
        None => Ok(false),
        Some(Value::Object(opts)) => Ok(opt_bool(opts, "include_usage")
            .map_err(|_| {
                RequestError::param(
                    "stream_options.include_usage",
                    "'stream_options.include_usage' must be a boolean",
                )
            })?
            .unwrap_or(false)),
        Some(_) => Err(RequestError::param(
            "stream_options",
            "'stream_options' must be an object",
        )),
    }
}

fn stop(obj: &Map<String, Value>) -> Result<Vec<String>, RequestError> {
    let bad = || RequestError::param("stop", "'stop' must be a string or an array of strings");
    match field(obj, "stop") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// The most alternatives per token `top_logprobs` may ask for, as OpenAI allows.
const MAX_TOP_LOGPROBS: u32 = 20;

/// `top_logprobs`: 0 to 20, and only beside `logprobs: true`.
fn top_logprobs(obj: &Map<String, Value>) -> Result<Option<u32>, RequestError> {
    let top = opt_u32(obj, "top_logprobs", 0)?;
    if top.is_some_and(|n| n > MAX_TOP_LOGPROBS) {
        return Err(RequestError::param(
            "top_logprobs",
            format!("'top_logprobs' must be between 0 and {MAX_TOP_LOGPROBS}"),
        ));
    }
    if top.is_some() && opt_bool(obj, "logprobs")? != Some(true) {
        return Err(RequestError::param(
            "top_logprobs",
            "'top_logprobs' needs 'logprobs' set to true",
        ));
    }
    Ok(top)
}

/// `response_format`: `{"type": "text" | "json_object"}` or
/// `{"type": "json_schema", "json_schema": {"name", "schema"?, "strict"?}}`, kept as given.
fn response_format(obj: &Map<String, Value>) -> Result<Option<Value>, RequestError> {
    let Some(v) = field(obj, "response_format") else {
        return Ok(None);
    };
    let kind = v.get("type").and_then(Value::as_str);
    match kind {
        Some("text" | "json_object") => Ok(Some(v.clone())),
        Some("json_schema") => {
            let spec = v.get("json_schema").and_then(Value::as_object);
            let named = spec
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            let schema_ok = spec
                .and_then(|s| field(s, "schema"))
                .is_none_or(Value::is_object);
            if !named {
                return Err(RequestError::param(
                    "response_format.json_schema.name",
                    "a 'json_schema' response format needs a 'json_schema' object with a 'name'",
                ));
            }
            if !schema_ok {
                return Err(RequestError::param(
                    "response_format.json_schema.schema",
                    "'response_format.json_schema.schema' must be an object",
                ));
            }
            Ok(Some(v.clone()))
        }
        _ => Err(RequestError::param(
            "response_format.type",
            "'response_format.type' must be 'text', 'json_object' or 'json_schema'",
        )),
    }
}

fn tools(obj: &Map<String, Value>) -> Result<Vec<Tool>, RequestError> {
    let Some(v) = field(obj, "tools") else {
        return Ok(Vec::new());
    };
    let items = v
        .as_array()
        .ok_or_else(|| RequestError::param("tools", "'tools' must be an array"))?;
    items.iter().enumerate().map(|(i, t)| tool(i, t)).collect()
}

fn tool(i: usize, t: &Value) -> Result<Tool, RequestError> {
    let param = format!("tools[{i}]");
    if t.get("type").and_then(Value::as_str) != Some("function") {
        return Err(RequestError::param(
            param,
            "only tools of type 'function' are supported",
        ));
    }
    let f = t
        .get("function")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            RequestError::param(
                format!("{param}.function"),
                "a function tool needs a 'function' object",
            )
        })?;
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            RequestError::param(
                format!("{param}.function.name"),
                "a function tool needs a string 'name'",
            )
        })?;
    let parameters = match field(f, "parameters") {
        None => None,
        Some(p @ Value::Object(_)) => Some(p.clone()),
        Some(_) => {
            return Err(RequestError::param(
                format!("{param}.function.parameters"),
                "'parameters' must be an object",
            ))
        }
    };
    Ok(Tool {
        name: name.to_string(),
        description: opt_string(f, "description")?,
        parameters,
    })
}

fn tool_choice(obj: &Map<String, Value>) -> Result<Option<ToolChoice>, RequestError> {
    let bad = || {
        RequestError::param(
            "tool_choice",
            "'tool_choice' must be 'auto', 'none', 'required' or {\"type\":\"function\",\"function\":{\"name\":…}}",
        )
    };
    match field(obj, "tool_choice") {
        None => Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            _ => Err(bad()),
        },
        Some(v) => v
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(|n| Some(ToolChoice::Function(n.to_string())))
            .ok_or_else(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::types::{Content, Role};

    /// The fast path answers only where the full parser would give the same request,
    /// and steps aside for everything else (so errors always come from the full parser).
    #[test]
    fn the_fast_path_agrees_with_the_full_parser_or_steps_aside() {
        let simple = [
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"developer","content":""},{"role":"user","content":"你好 \"q\""},{"role":"assistant","content":"ok"}],"stream":true,"max_tokens":64,"temperature":0,"top_p":1}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"max_completion_tokens":20,"temperature":2.0,"stream":null}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":null,"top_p":0.5}"#,
        ];
        for body in simple {
            let fast = super::super::request_fast::parse_simple(body.as_bytes());
            assert_eq!(
                fast,
                ChatRequest::parse_full(body.as_bytes()).ok(),
                "{body}"
            );
            assert!(fast.is_some(), "{body}");
        }
        let other = [
            r#"{"model":"","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":[]}"#,
            r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
            r#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":null}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi","name":"ann"}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":1.5}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":0,"max_tokens":5}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":2.5}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"top_p":-0.1}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}"#,
            r#"{"model":"m","model":"n","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]} trailing"#,
            r#"[1]"#,
        ];
        for body in other {
            assert_eq!(
                super::super::request_fast::parse_simple(body.as_bytes()),
                None,
                "{body}"
            );
        }
    }

    fn err(body: &str) -> RequestError {
        ChatRequest::parse(body.as_bytes()).expect_err("should be refused")
    }

    #[test]
    fn a_full_request_parses() {
        let req = ChatRequest::parse(
            br#"{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAA"}}]}],
            "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":50,"max_tokens":9,
            "temperature":1.5,"stop":"END","n":1,"seed":7,"user":"u1","logit_bias":{"1":2},
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
            "tool_choice":{"type":"function","function":{"name":"f"}},"response_format":{"type":"json_object"}}"#,
        )
        .expect("valid");
        assert_eq!(req.model, "gpt-4o");
        assert!(req.stream && req.include_usage);
        assert_eq!(req.requested_max_tokens(), Some(50));
        assert_eq!(req.stop, vec!["END".to_string()]);
        assert_eq!(req.tool_choice, Some(ToolChoice::Function("f".into())));
        assert_eq!(req.messages[0].role, Role::System);
        assert!(matches!(&req.messages[1].content, Some(Content::Parts(p)) if p.len() == 2));
        assert!(req.estimate_prompt_tokens() > 1000);
    }

    #[test]
    fn bad_bodies_are_refused_with_clear_messages() {
        assert!(err("{nope").message.contains("parse the JSON"));
        assert!(err("[1]").message.contains("JSON object"));
        assert_eq!(err(r#"{"messages":[]}"#).param.as_deref(), Some("model"));
        assert_eq!(
            err(r#"{"model":3,"messages":[]}"#).param.as_deref(),
            Some("model")
        );
        let msgs = |m: &str| format!(r#"{{"model":"m","messages":{m}}}"#);
        assert_eq!(err(&msgs("[]")).param.as_deref(), Some("messages"));
        assert_eq!(err(&msgs("{}")).param.as_deref(), Some("messages"));
        assert!(err(&msgs(r#"[{"role":"wizard","content":"x"}]"#))
            .message
            .contains("wizard"));
        assert_eq!(
            err(&msgs(r#"[{"role":"user"}]"#)).param.as_deref(),
            Some("messages[0].content")
        );
        assert_eq!(
            err(&msgs(r#"[{"role":"user","content":5}]"#))
                .param
                .as_deref(),
            Some("messages[0].content")
        );
        assert_eq!(
            err(&msgs(r#"[{"role":"tool","content":"r"}]"#))
                .param
                .as_deref(),
            Some("messages[0].tool_call_id")
        );
    }

    #[test]
    fn numeric_fields_are_type_and_range_checked() {
        let with = |f: &str| {
            format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],{f}}}"#)
        };
        assert_eq!(
            err(&with(r#""temperature":2.5"#)).param.as_deref(),
            Some("temperature")
        );
        assert_eq!(
            err(&with(r#""temperature":"hot""#)).param.as_deref(),
            Some("temperature")
        );
        assert_eq!(err(&with(r#""n":0"#)).param.as_deref(), Some("n"));
        assert_eq!(err(&with(r#""n":129"#)).param.as_deref(), Some("n"));
        assert_eq!(err(&with(r#""n":4294967295"#)).param.as_deref(), Some("n"));
        assert_eq!(
            err(&with(r#""max_tokens":-1"#)).param.as_deref(),
            Some("max_tokens")
        );
        assert_eq!(err(&with(r#""top_p":1.1"#)).param.as_deref(), Some("top_p"));
        assert_eq!(err(&with(r#""seed":"x""#)).param.as_deref(), Some("seed"));
        assert_eq!(err(&with(r#""stop":[1]"#)).param.as_deref(), Some("stop"));
        assert_eq!(
            err(&with(r#""tool_choice":"always""#)).param.as_deref(),
            Some("tool_choice")
        );
        assert_eq!(
            err(&with(r#""stream":"yes""#)).param.as_deref(),
            Some("stream")
        );
        let ok =
            ChatRequest::parse(with(r#""temperature":null,"frequency_penalty":-2"#).as_bytes())
                .expect("ok");
        assert_eq!(ok.temperature, None);
    }

    #[test]
    fn logprobs_parallel_calls_and_response_formats_are_checked() {
        let with = |f: &str| {
            format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],{f}}}"#)
        };
        let refused = [
            (r#""top_logprobs":2"#, "top_logprobs"),
            (r#""logprobs":false,"top_logprobs":2"#, "top_logprobs"),
            (r#""logprobs":true,"top_logprobs":21"#, "top_logprobs"),
            (r#""logprobs":"yes""#, "logprobs"),
            (r#""parallel_tool_calls":1"#, "parallel_tool_calls"),
            (
                r#""response_format":{"type":"xml"}"#,
                "response_format.type",
            ),
            (r#""response_format":"json""#, "response_format.type"),
            (
                r#""response_format":{"type":"json_schema"}"#,
                "response_format.json_schema.name",
            ),
            (
                r#""response_format":{"type":"json_schema","json_schema":{"name":"x","schema":[]}}"#,
                "response_format.json_schema.schema",
            ),
        ];
        for (field, param) in refused {
            assert_eq!(err(&with(field)).param.as_deref(), Some(param), "{field}");
        }
        let ok = ChatRequest::parse(
            with(r#""logprobs":true,"top_logprobs":0,"parallel_tool_calls":false,"response_format":{"type":"json_schema","json_schema":{"name":"x"}}"#).as_bytes(),
        )
        .expect("ok");
        assert!(ok.logprobs);
        assert_eq!(
            (ok.top_logprobs, ok.parallel_tool_calls),
            (Some(0), Some(false))
        );
    }

    #[test]
    fn prompt_estimate_errs_high() {
        let req = ChatRequest::parse(
            br#"{"model":"m","messages":[{"role":"user","content":"hello world, how are you?"}]}"#,
        )
        .expect("valid");
        // 25 chars is ~6 real tokens (+ a few for framing).
        assert!(req.estimate_prompt_tokens() >= 12);
        let zh = ChatRequest::parse(
            r#"{"model":"m","messages":[{"role":"user","content":"你好，请用一句话介绍你自己"}]}"#
                .as_bytes(),
        )
        .expect("valid");
        // 13 CJK characters are ~13 tokens: the estimate must not be under that.
        assert!(zh.estimate_prompt_tokens() >= 13 + 4);
    }
}
