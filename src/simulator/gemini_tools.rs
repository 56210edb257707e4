//! Gemini tool checks: `tools[].functionDeclarations` with their OpenAPI-subset parameter
//! schemas, and `toolConfig.functionCallingConfig`. Contents and generation settings are
//! checked in `gemini_checks.rs`.

use serde_json::Value;

use super::errors::Rejection;
use super::gemini_checks::{check_names_of, field};

const TOOL: &[&str] = &[
    "functionDeclarations",
    "googleSearch",
    "googleSearchRetrieval",
    "codeExecution",
    "urlContext",
    "computerUse",
    "fileSearch",
    "googleMaps",
];
const DECLARATION: &[&str] = &[
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
    "behavior",
];
const SCHEMA: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];
const MODES: &[&str] = &["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"];

/// `tools`: function declarations with a name and an OpenAPI-subset schema.
pub fn check_tools(tools: Option<&Value>) -> Result<(), Rejection> {
    let Some(tools) = tools else { return Ok(()) };
    let Value::Array(list) = tools else {
        return Err(Rejection::gemini_invalid(
            "Invalid value at 'tools', expected a list",
        ));
    };
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        check_names_of(tool, TOOL, &at)?;
        let declarations = tool
            .as_object()
            .and_then(|t| field(t, "functionDeclarations"));
        for (j, declaration) in declarations
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("{at}.function_declarations[{j}]");
            check_names_of(declaration, DECLARATION, &at)?;
            if declaration
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(Rejection::gemini_invalid(&format!(
                    "* GenerateContentRequest.{at}.name: Name cannot be empty.\n"
                )));
            }
            if let Some(schema) = declaration.get("parameters") {
                check_schema(schema, &format!("{at}.parameters"))?;
            }
        }
    }
    Ok(())
}

/// The OpenAPI subset Gemini takes: JSON-Schema-only keys (`additionalProperties`, `$schema`,
/// `const` …) are unknown fields.
fn check_schema(schema: &Value, at: &str) -> Result<(), Rejection> {
    check_names_of(schema, SCHEMA, at)?;
    if let Some(kind) = schema.get("type") {
        if !kind.is_string() {
            return Err(Rejection::gemini_invalid(&format!("Invalid JSON payload received. Proto field is not repeating, cannot start list. at '{at}.type'")));
        }
    }
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten();
    for (k, (_, property)) in properties.enumerate() {
        check_schema(property, &format!("{at}.properties[{k}].value"))?;
    }
    if let Some(items) = schema.get("items") {
        check_schema(items, &format!("{at}.items"))?;
    }
    let any_of = schema
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for (k, option) in any_of.enumerate() {
        check_schema(option, &format!("{at}.any_of[{k}]"))?;
    }
    Ok(())
}

/// `toolConfig`: known fields and a valid calling mode.
pub fn check_tool_config(config: Option<&Value>) -> Result<(), Rejection> {
    let Some(config) = config else { return Ok(()) };
    check_names_of(
        config,
        &["functionCallingConfig", "retrievalConfig"],
        "tool_config",
    )?;
    let Some(calling) = config
        .as_object()
        .and_then(|c| field(c, "functionCallingConfig"))
    else {
        return Ok(());
    };
    check_names_of(
        calling,
        &["mode", "allowedFunctionNames"],
        "tool_config.function_calling_config",
    )?;
    match calling.get("mode") {
        None => Ok(()),
        Some(Value::String(mode)) if MODES.contains(&mode.as_str()) => Ok(()),
        Some(other) => Err(Rejection::gemini_invalid(&format!("Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), {other}"))),
    }
}
