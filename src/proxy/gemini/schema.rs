//! Gemini's OpenAPI-subset schemas: JSON-Schema keys it rejects as unknown fields
//! (`additionalProperties`, `$schema`, `const`, …) are stripped by an allowlist.

use serde_json::{json, Map, Value};

use crate::proxy::openai::put;

/// Schema keys Gemini's OpenAPI subset accepts; anything else is stripped.
const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
];

/// True when the object schema has at least one property (Gemini rejects empty ones).
pub(super) fn has_properties(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// Keep only what Gemini's schema subset accepts; `["string","null"]` types become
/// `nullable`, a string `const` becomes a one-value `enum`.
pub(super) fn clean_schema(v: &Value) -> Value {
    let Value::Object(obj) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, val) in obj {
        match (k.as_str(), val) {
            ("properties", Value::Object(props)) if !props.is_empty() => {
                let props: Map<String, Value> = props
                    .iter()
                    .map(|(n, s)| (n.clone(), clean_schema(s)))
                    .collect();
                out.insert(k.clone(), props.into());
            }
            ("items", _) => _ = out.insert(k.clone(), clean_schema(val)),
            ("anyOf", Value::Array(list)) => {
                _ = out.insert(k.clone(), list.iter().map(clean_schema).collect())
            }
            ("type", Value::Array(types)) => {
                let first = types.iter().find(|t| t.as_str() != Some("null"));
                put(&mut out, "type", first.cloned());
                if types.iter().any(|t| t.as_str() == Some("null")) {
                    out.insert("nullable".into(), true.into());
                }
            }
            ("const", Value::String(_)) if !obj.contains_key("enum") => {
                _ = out.insert("enum".into(), json!([val]))
            }
            (key, _) if SCHEMA_KEYS.contains(&key) => _ = out.insert(k.clone(), val.clone()),
            _ => {}
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_schema_only_keys_are_stripped_recursively() {
        let schema = json!({"$schema": "x", "type": "object", "additionalProperties": false,
            "properties": {"list": {"type": "array", "items": {"type": "object", "additionalProperties": true,
            "properties": {"k": {"const": 3, "type": "integer"}}}}}});
        assert_eq!(
            clean_schema(&schema),
            json!({"type": "object", "properties": {"list": {"type": "array",
            "items": {"type": "object", "properties": {"k": {"type": "integer"}}}}}})
        );
        assert!(!has_properties(
            &json!({"type": "object", "properties": {}})
        ));
    }
}
