//! The OpenAI Responses door (SPEC §11) through the strict fakes: passthrough to an
//! OpenAI deployment keeps Codex's fields, translation to the other providers answers
//! in the Responses shapes (object and event sequence with `sequence_number`), bad
//! input gets OpenAI-format errors and costs nothing, every turn is charged.

use serde_json::{json, Value};
use tollgate::simulator::SimProvider;

use crate::helpers::*;

impl TestApp {
    async fn responses(&self, key: &str, body: &Value) -> Resp {
        self.client_raw_post(
            "/v1/responses",
            &body.to_string(),
            &[("authorization", &format!("Bearer {key}"))],
        )
        .await
    }
}

/// Codex's captured request, pointed at `model`.
fn codex_body(model: &str, stream: bool) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/clients/codex-responses.json"
    );
    let captured: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("captured Codex request"))
            .unwrap();
    let mut body = captured.get("body").cloned().unwrap_or(captured);
    body["model"] = json!(model);
    body["stream"] = json!(stream);
    body
}

fn events(sse: &str) -> Vec<(String, Value)> {
    sse.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let name = f
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_default()
                .to_string();
            let data = f
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("null");
            (name, serde_json::from_str(data).unwrap_or(Value::Null))
        })
        .collect()
}

fn assert_codex_can_read(sse: &str) -> String {
    let evs = events(sse);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..2],
        ["response.created", "response.in_progress"],
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"response.completed"), "{names:?}");
    for (i, (name, data)) in evs.iter().enumerate() {
        assert_eq!(data["type"].as_str(), Some(name.as_str()));
        assert_eq!(data["sequence_number"].as_u64(), Some(i as u64), "{name}");
    }
    let done = &evs.last().unwrap().1["response"];
    assert!(done["id"].is_string());
    for field in ["input_tokens", "output_tokens", "total_tokens"] {
        assert!(done["usage"][field].as_u64().is_some(), "{field}: {done}");
    }
    assert!(done["usage"]["input_tokens_details"]["cached_tokens"].is_u64());
    assert!(done["usage"]["output_tokens_details"]["reasoning_tokens"].is_u64());
    let message = evs
        .iter()
        .find(|(n, d)| n == "response.output_item.done" && d["item"]["type"] == "message")
        .expect("a finished message item");
    message.1["item"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[actix_web::test]
async fn codex_requests_pass_through_to_openai_unchanged_but_for_the_model() {
    let app = spawn_app().await;
    let key = app.key("codex").await;
    let body = codex_body("gpt-4o", false);
    let resp = app.responses(&key, &body).await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    let r = resp.json();
    assert_eq!(r["object"], "response");
    assert!(r["output"][0]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("simulated openai")));
    let seen = app.sim.received().pop().unwrap();
    assert_eq!(seen.path, "/openai/v1/responses");
    for field in [
        "include",
        "client_metadata",
        "prompt_cache_key",
        "store",
        "tools",
        "reasoning",
        "input",
    ] {
        assert_eq!(seen.body[field], body[field], "{field} passes through");
    }
    let resp = app.responses(&key, &codex_body("gpt-4o", true)).await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    assert!(assert_codex_can_read(&resp.body).contains("simulated openai"));
    app.flush_ledger().await;
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM request_logs WHERE call_type = 'aresponses' AND success = 1 AND cost > 0"), 2);
}

#[actix_web::test]
async fn codex_requests_are_translated_for_other_providers() {
    let app = spawn_app().await;
    let key = app.key("codex").await;
    for model in ["claude-3-5-sonnet", "gemini-pro", "mistral-large"] {
        let resp = app.responses(&key, &codex_body(model, true)).await;
        assert_eq!(resp.status.as_u16(), 200, "{model}: {}", resp.body);
        let text = assert_codex_can_read(&resp.body);
        assert!(!text.is_empty(), "{model}");
        let seen = app.sim.received().pop().unwrap();
        let sent = seen.body.to_string();
        assert!(
            !sent.contains("web_search"),
            "{model}: hosted tools are left out"
        );
        assert!(
            sent.contains("spawn_agent"),
            "{model}: namespaced tools are flattened"
        );
    }
    let resp = app.responses(&key, &json!({"model": "claude-3-5-sonnet", "input": "say hi", "instructions": "Be terse.", "max_output_tokens": 100})).await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    let r = resp.json();
    assert_eq!(r["status"], "completed");
    assert_eq!(r["output"][0]["type"], "message");
    assert!(r["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let seen = app.sim.received().pop().unwrap();
    assert_eq!(seen.provider, SimProvider::Anthropic);
    app.flush_ledger().await;
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM request_logs WHERE call_type = 'aresponses' AND success = 1 AND cost > 0"), 4);
}

#[actix_web::test]
async fn a_custom_tool_call_comes_back_in_the_clients_shape() {
    let app = spawn_app().await;
    let key = app.key("codex").await;
    app.sim.push_fault(fault(
        Some(SimProvider::Anthropic),
        1,
        tollgate::simulator::FaultKind::ToolCall {
            name: "apply_patch".into(),
            arguments: json!({"content": "*** Begin Patch"}),
        },
    ));
    let body = json!({"model": "claude-3-5-sonnet", "input": "patch it",
        "tools": [{"type": "custom", "name": "apply_patch", "description": "Apply a patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}]});
    let resp = app.responses(&key, &body).await;
    assert_eq!(resp.status.as_u16(), 200, "{}", resp.body);
    let item = resp.json()["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] != "message")
        .cloned()
        .expect("a tool call item");
    assert_eq!(item["type"], "custom_tool_call");
    assert_eq!(item["input"], "*** Begin Patch");
    assert!(item["call_id"].is_string());
}

#[actix_web::test]
async fn bad_responses_input_gets_openai_errors_and_costs_nothing() {
    let app = spawn_app().await;
    let key = app.key("codex").await;
    let cases = [
        (json!({"model": "gpt-4o"}), 400, "input"),
        (json!({"input": "hi"}), 400, "model"),
        (
            json!({"model": "claude-3-5-sonnet", "input": [{"type": "telepathy"}]}),
            400,
            "input",
        ),
        (
            json!({"model": "gpt-4o", "input": "hi", "previous_response_id": "resp_x"}),
            400,
            "previous_response_id",
        ),
        (json!({"model": "nope", "input": "hi"}), 404, ""),
    ];
    for (body, status, param) in cases {
        let resp = app.responses(&key, &body).await;
        assert_eq!(resp.status.as_u16(), status, "{body}: {}", resp.body);
        assert!(resp.json()["error"]["message"].is_string(), "{}", resp.body);
        if !param.is_empty() {
            assert_eq!(resp.json()["error"]["param"], param, "{}", resp.body);
        }
    }
    let stored = app.get_bearer("/v1/responses/resp_123", &key).await;
    assert_eq!(stored.status.as_u16(), 404);
    assert!(stored.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("store"));
    let ws = app.get_bearer("/v1/responses", &key).await;
    assert_eq!(
        ws.status.as_u16(),
        400,
        "a WebSocket upgrade is refused over plain HTTP"
    );
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COALESCE(SUM(cost), 0) FROM request_logs"),
        0
    );
    assert!(app.sim.received().is_empty());
}
