//! Parsing the `messages` array of a client request into canonical `Message`s.
//!
//! Checks roles, the content each role needs, content part types and tool-call shapes.
//! Unknown message fields are ignored, like unknown request fields.

use std::fmt::{self, Display};

use serde_json::{Map, Value};

use super::types::{Content, ContentPart, Message, RequestError, Role, ToolCall};

/// Parse `messages`: a non-empty array of message objects.
pub(super) fn parse_messages(v: Option<&Value>) -> Result<Vec<Message>, RequestError> {
    let items = match v {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            return Err(RequestError::param(
                "messages",
                "'messages' must contain at least one message",
            ))
        }
        None | Some(Value::Null) => {
            return Err(RequestError::param(
                "messages",
                "you must provide 'messages'",
            ))
        }
        Some(_) => {
            return Err(RequestError::param(
                "messages",
                "'messages' must be an array",
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, m)| message(i, m))
        .collect()
}

/// Where a field sits, as `param` names it (`messages[0].content[1]`); only written
/// out when there is an error to report, so a valid request formats nothing.
#[derive(Clone, Copy)]
enum At<'a> {
    Field(usize, &'a str),
    Index(&'a At<'a>, usize),
}

impl Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Field(i, field) => write!(f, "messages[{i}].{field}"),
            At::Index(parent, j) => write!(f, "{parent}[{j}]"),
        }
    }
}

fn message(i: usize, v: &Value) -> Result<Message, RequestError> {
    let at = |field| At::Field(i, field);
    let obj = v.as_object().ok_or_else(|| {
        RequestError::param(
            format!("messages[{i}]"),
            format!("messages[{i}] must be an object"),
        )
    })?;
    let role = role(obj, &at("role"))?;
    let content = content(obj.get("content"), &at("content"))?;
    let tool_calls = message_tool_calls(role, obj.get("tool_calls"), &at("tool_calls"))?;
    let calls_tools = role == Role::Assistant && !tool_calls.is_empty();
    if content.is_none() && !calls_tools {
        let what = format!("messages[{i}] ({}) must have 'content'", role.as_str());
        return Err(RequestError::param(at("content").to_string(), what));
    }
    let tool_call_id = str_field(obj, "tool_call_id", &at("tool_call_id"))?;
    if role == Role::Tool && tool_call_id.is_none() {
        return Err(RequestError::param(
            at("tool_call_id").to_string(),
            "a tool message must have a string 'tool_call_id'",
        ));
    }
    Ok(Message {
        role,
        content,
        name: str_field(obj, "name", &at("name"))?,
        tool_calls,
        tool_call_id,
    })
}

/// `tool_calls`: only on assistant messages, an array when present.
fn message_tool_calls(
    role: Role,
    v: Option<&Value>,
    param: &At<'_>,
) -> Result<Vec<ToolCall>, RequestError> {
    match (role, v) {
        (Role::Assistant, Some(Value::Array(calls))) => tool_calls(calls, param),
        (_, None | Some(Value::Null)) => Ok(Vec::new()),
        (Role::Assistant, Some(_)) => Err(RequestError::param(
            param.to_string(),
            "'tool_calls' must be an array",
        )),
        (_, Some(_)) => Err(RequestError::param(
            param.to_string(),
            "only assistant messages can have 'tool_calls'",
        )),
    }
}

fn role(obj: &Map<String, Value>, param: &At<'_>) -> Result<Role, RequestError> {
    match obj.get("role").and_then(Value::as_str) {
        Some("system") => Ok(Role::System),
        Some("developer") => Ok(Role::Developer),
        Some("user") => Ok(Role::User),
        Some("assistant") => Ok(Role::Assistant),
        Some("tool") => Ok(Role::Tool),
        Some(other) => Err(RequestError::param(
            param.to_string(),
            format!(
                "'{other}' is not a valid role: use system, developer, user, assistant or tool"
            ),
        )),
        None => Err(RequestError::param(
            param.to_string(),
            "every message needs a string 'role'",
        )),
    }
}

fn str_field(
    obj: &Map<String, Value>,
    key: &str,
    param: &At<'_>,
) -> Result<Option<String>, RequestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(RequestError::param(
            param.to_string(),
            format!("'{key}' must be a string"),
        )),
    }
}

fn content(v: Option<&Value>, param: &At<'_>) -> Result<Option<Content>, RequestError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(Content::Text(s.clone()))),
        Some(Value::Array(parts)) => {
            let parts: Result<Vec<ContentPart>, RequestError> = parts
                .iter()
                .enumerate()
                .map(|(j, p)| part(p, &At::Index(param, j)))
                .collect();
            Ok(Some(Content::Parts(parts?)))
        }
        Some(_) => Err(RequestError::param(
            param.to_string(),
            "'content' must be a string or an array of content parts",
        )),
    }
}

fn part(v: &Value, param: &At<'_>) -> Result<ContentPart, RequestError> {
    let kind = v.get("type").and_then(Value::as_str);
    let text = |key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .map(|t| ContentPart::Text(t.to_string()))
            .ok_or_else(|| {
                RequestError::param(
                    param.to_string(),
                    format!("a '{key}' part needs a string '{key}'"),
                )
            })
    };
    match kind {
        Some("text") => text("text"),
        Some("refusal") => text("refusal"),
        Some("image_url") => {
            let url = v
                .pointer("/image_url/url")
                .or_else(|| v.get("image_url").filter(|u| u.is_string()))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    RequestError::param(
                        param.to_string(),
                        "an image_url part needs 'image_url.url'",
                    )
                })?;
            let detail = v
                .pointer("/image_url/detail")
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(ContentPart::Image {
                url: url.to_string(),
                detail,
            })
        }
        Some(other) => Err(RequestError::param(
            param.to_string(),
            format!("content part type '{other}' is not supported"),
        )),
        None => Err(RequestError::param(
            param.to_string(),
            "every content part needs a string 'type'",
        )),
    }
}

fn tool_calls(calls: &[Value], param: &At<'_>) -> Result<Vec<ToolCall>, RequestError> {
    calls
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let at = At::Index(param, k);
            let get = |ptr: &str| c.pointer(ptr).and_then(Value::as_str);
            let (Some(id), Some(name)) = (get("/id"), get("/function/name")) else {
                return Err(RequestError::param(
                    at.to_string(),
                    "a tool call needs a string 'id' and 'function.name'",
                ));
            };
            let arguments = match c.pointer("/function/arguments") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Ok(ToolCall {
                id: id.to_string(),
                name: name.to_string(),
                arguments,
            })
        })
        .collect()
}
