//! Gemini request-body checks: proto-JSON field names (camelCase or snake_case, nothing
//! else), contents/roles/parts, turn order around function calls, tool schemas and
//! `generationConfig` ranges. Error texts follow the API's own wording; auth and the model in
//! the URL are checked in `gemini.rs`.

use serde_json::{Map, Value};

use super::errors::Rejection;
use super::gemini_tools::{check_tool_config, check_tools};

const TOP: &[&str] = &[
    "contents",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
    "model",
    "labels",
];
const GENERATION: &[&str] = &[
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "mediaResolution",
    "responseModalities",
];
const CONTENT: &[&str] = &["role", "parts"];
const PART_DATA: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];
const PART_META: &[&str] = &[
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
];
const MAX_STOP_SEQUENCES: usize = 5;

/// The parts of an accepted body the caller needs.
pub struct Checked<'a> {
    /// `contents`.
    pub contents: &'a [Value],
    /// `systemInstruction`.
    pub system: Option<&'a Value>,
    /// `tools`.
    pub tools: Option<&'a Value>,
    /// `generationConfig.maxOutputTokens`.
    pub max_output_tokens: Option<u32>,
    /// `generationConfig.responseLogprobs` with its `logprobs` count (default 0).
    pub logprobs: Option<u32>,
}

/// Checks a whole `GenerateContentRequest` body against the model's output cap.
pub fn check_body(body: &Map<String, Value>, cap: u64) -> Result<Checked<'_>, Rejection> {
    check_names(body, TOP, "")?;
    let generation = field(body, "generationConfig");
    if let Some(config) = generation {
        check_names_of(config, GENERATION, "generation_config")?;
    }
    let max_output_tokens = check_generation(generation, cap)?;
    let logprobs = check_logprobs(generation)?;
    let system = field(body, "systemInstruction");
    if let Some(system) = system {
        check_names_of(system, CONTENT, "system_instruction")?;
        check_parts(
            system.get("parts").unwrap_or(&Value::Null),
            "system_instruction",
        )?;
    }
    let tools = field(body, "tools");
    check_tools(tools)?;
    check_tool_config(field(body, "toolConfig"))?;
    let contents = check_contents(field(body, "contents"))?;
    Ok(Checked {
        contents,
        system,
        tools,
        max_output_tokens,
        logprobs,
    })
}

/// `responseLogprobs` (a boolean) and `logprobs` (0..=20, only beside it).
fn check_logprobs(config: Option<&Value>) -> Result<Option<u32>, Rejection> {
    let Some(Value::Object(config)) = config else {
        return Ok(None);
    };
    let wanted = field(config, "responseLogprobs") == Some(&Value::Bool(true));
    match field(config, "logprobs") {
        None if wanted => Ok(Some(0)),
        None => Ok(None),
        Some(_) if !wanted => Err(Rejection::gemini_invalid(
            "logprobs is only valid if responseLogprobs is true",
        )),
        Some(n) => match n.as_u64().filter(|n| *n <= 20) {
            Some(n) => Ok(Some(u32::try_from(n).unwrap_or(20))),
            None => Err(Rejection::gemini_invalid(
                "* GenerateContentRequest.generation_config.logprobs: must be in the range [0, 20]\n",
            )),
        },
    }
}

/// `fooBar` or `foo_bar` from a map.
pub(super) fn field<'a>(map: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    map.get(camel).or_else(|| map.get(&snake(camel)))
}

fn snake(camel: &str) -> String {
    camel.chars().fold(String::new(), |mut out, c| {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
        out
    })
}

fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        match (c, upper) {
            ('_', _) => upper = true,
            (c, true) => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            (c, false) => out.push(c),
        }
    }
    out
}

/// Refuses any key (camelCase or snake_case) outside `allowed`, in Google's words.
pub(super) fn check_names(
    map: &Map<String, Value>,
    allowed: &[&str],
    location: &str,
) -> Result<(), Rejection> {
    match map.keys().find(|k| !allowed.contains(&camel(k).as_str())) {
        Some(name) => Err(Rejection::gemini_unknown(name, location)),
        None => Ok(()),
    }
}

/// [`check_names`] for a value that must be an object.
pub(super) fn check_names_of(
    value: &Value,
    allowed: &[&str],
    location: &str,
) -> Result<(), Rejection> {
    match value {
        Value::Object(map) => check_names(map, allowed, location),
        other => Err(Rejection::gemini_invalid(&format!(
            "Invalid value at '{location}', {other}"
        ))),
    }
}

fn check_generation(config: Option<&Value>, cap: u64) -> Result<Option<u32>, Rejection> {
    let Some(Value::Object(config)) = config else {
        return Ok(None);
    };
    if let Some(t) = field(config, "temperature").and_then(Value::as_f64) {
        if !(0.0..=2.0).contains(&t) {
            return Err(Rejection::gemini_invalid(&format!("* GenerateContentRequest.generation_config.temperature: temperature must be in the range [0.0, 2.0], got {t}\n")));
        }
    }
    let stops = field(config, "stopSequences")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if stops > MAX_STOP_SEQUENCES {
        return Err(Rejection::gemini_invalid("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are allowed\n"));
    }
    let Some(max) = field(config, "maxOutputTokens") else {
        return Ok(None);
    };
    match max.as_u64() {
        Some(n) if (1..=cap).contains(&n) => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
        _ => Err(Rejection::gemini_invalid(&format!("Unable to submit request because it has a maxOutputTokens value of {max} but the supported range is from 1 (inclusive) to {} (exclusive). Update the value and try again.", cap + 1))),
    }
}

fn check_contents(contents: Option<&Value>) -> Result<&[Value], Rejection> {
    let list = match contents {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => {
            return Err(Rejection::gemini_invalid(
                "* GenerateContentRequest.contents: contents is not specified\n",
            ))
        }
    };
    let mut previous: Option<(&str, usize)> = None;
    for (i, content) in list.iter().enumerate() {
        let location = format!("contents[{i}]");
        check_names_of(content, CONTENT, &location)?;
        let role = match content.get("role").and_then(Value::as_str) {
            None => "user",
            Some(role @ ("user" | "model")) => role,
            Some(_) => {
                return Err(Rejection::gemini_invalid(
                    "Please use a valid role: user, model.",
                ))
            }
        };
        let parts = check_parts(content.get("parts").unwrap_or(&Value::Null), &location)?;
        let calls = count(parts, "functionCall");
        let responses = count(parts, "functionResponse");
        check_turn(previous, role, responses)?;
        previous = Some((role, calls));
    }
    if previous.is_some_and(|(role, _)| role == "model") {
        return Err(Rejection::gemini_invalid(
            "Please ensure that multiturn requests ends with a user role or a function response.",
        ));
    }
    Ok(list)
}

fn check_turn(
    previous: Option<(&str, usize)>,
    role: &str,
    responses: usize,
) -> Result<(), Rejection> {
    let (previous_role, previous_calls) = previous.unwrap_or(("", 0));
    if previous_role == role {
        return Err(Rejection::gemini_invalid(
            "Please ensure that multiturn requests alternate between user and model.",
        ));
    }
    if responses > 0 && previous_calls == 0 {
        return Err(Rejection::gemini_invalid("Please ensure that function response turn comes immediately after a function call turn."));
    }
    if previous_calls > 0 && responses != previous_calls {
        return Err(Rejection::gemini_invalid("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."));
    }
    Ok(())
}

fn count(parts: &[Value], data: &str) -> usize {
    let snake_name = snake(data);
    parts
        .iter()
        .filter(|p| p.get(data).is_some() || p.get(&snake_name).is_some())
        .count()
}

fn check_parts<'a>(parts: &'a Value, location: &str) -> Result<&'a [Value], Rejection> {
    let list = match parts {
        Value::Array(list) if !list.is_empty() => list,
        _ => {
            return Err(Rejection::gemini_invalid(&format!(
                "* GenerateContentRequest.{location}.parts: contents.parts must not be empty.\n"
            )))
        }
    };
    for (j, part) in list.iter().enumerate() {
        let at = format!("{location}.parts[{j}]");
        let Value::Object(map) = part else {
            return Err(Rejection::gemini_invalid(&format!(
                "Invalid value at '{at}', {part}"
            )));
        };
        let allowed: Vec<&str> = PART_DATA.iter().chain(PART_META).copied().collect();
        check_names(map, &allowed, &at)?;
        let data: Vec<String> = map
            .keys()
            .map(|k| camel(k))
            .filter(|k| PART_DATA.contains(&k.as_str()))
            .collect();
        match data.as_slice() {
            [] => return Err(Rejection::gemini_invalid(&format!("* GenerateContentRequest.{at}.data: required oneof field 'data' must have one initialized field\n"))),
            [one] => check_data(map, one, &at)?,
            [_, second, ..] => return Err(Rejection::gemini_invalid(&format!("Invalid value at '{at}' (oneof), oneof field 'data' is already set. Cannot set '{second}'"))),
        }
    }
    Ok(list)
}

fn check_data(part: &Map<String, Value>, data: &str, at: &str) -> Result<(), Rejection> {
    let value = field(part, data).unwrap_or(&Value::Null);
    match data {
        "text" if value.as_str().is_none_or(str::is_empty) => Err(Rejection::gemini_invalid("Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again.")),
        "functionCall" => {
            check_names_of(value, &["id", "name", "args"], &format!("{at}.function_call"))?;
            if value.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(Rejection::gemini_invalid(&format!("* GenerateContentRequest.{at}.function_call.name: Name cannot be empty.\n")));
            }
            match value.get("args") {
                None | Some(Value::Object(_)) => Ok(()),
                Some(other) => Err(struct_expected(&format!("{at}.function_call.args"), other)),
            }
        }
        "functionResponse" => {
            check_names_of(value, &["id", "name", "response", "willContinue", "scheduling", "parts"], &format!("{at}.function_response"))?;
            if value.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(Rejection::gemini_invalid(&format!("* GenerateContentRequest.{at}.function_response.name: Name cannot be empty.\n")));
            }
            match value.get("response") {
                Some(Value::Object(_)) => Ok(()),
                Some(other) => Err(struct_expected(&format!("{at}.function_response.response"), other)),
                None => Err(Rejection::gemini_invalid(&format!("* GenerateContentRequest.{at}.function_response.response: response is required\n"))),
            }
        }
        "inlineData" => check_names_of(value, &["mimeType", "data"], &format!("{at}.inline_data")),
        _ => Ok(()),
    }
}

fn struct_expected(location: &str, got: &Value) -> Rejection {
    Rejection::gemini_invalid(&format!(
        "Invalid value at '{location}' (type.googleapis.com/google.protobuf.Struct), {got}"
    ))
}
