//! A value that fits a JSON schema, for a simulated model made to call a tool: each
//! property gets a value of its type (strings say what the model would have said).

use serde_json::{json, Map, Value};

/// A value of `schema`'s shape; `text` fills the strings. An object schema with no
/// properties gets `{"answer": text}`.
pub fn sample(schema: &Value, text: &str) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null"),
        Some(kind) => kind.as_str(),
        None if schema.get("properties").is_some() => Some("object"),
        None => None,
    };
    match kind {
        Some("object") => object(schema, text),
        Some("array") => {
            let items = schema
                .get("items")
                .cloned()
                .unwrap_or(json!({"type": "string"}));
            json!([sample(&items, text)])
        }
        Some("integer") => json!(1),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("null") => Value::Null,
        _ => Value::String(text.to_string()),
    }
}

fn object(schema: &Value, text: &str) -> Value {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return json!({"answer": text});
    };
    let out: Map<String, Value> = properties
        .iter()
        .map(|(name, property)| (name.clone(), sample(property, text)))
        .collect();
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_gets_a_value_of_its_type() {
        let schema = json!({"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}, "sunny": {"type": ["boolean", "null"]},
            "unit": {"enum": ["c", "f"]}, "tags": {"type": "array", "items": {"type": "string"}},
            "where": {"properties": {"lat": {"type": "number"}}}}});
        assert_eq!(
            sample(&schema, "Paris"),
            json!({"city": "Paris", "days": 1, "sunny": true, "unit": "c", "tags": ["Paris"],
                   "where": {"lat": 1.5}})
        );
        assert_eq!(
            sample(&json!({"type": "object"}), "hi"),
            json!({"answer": "hi"})
        );
    }
}
