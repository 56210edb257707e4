//! The walkthrough end to end over HTTP: teams, users and keys through the management
//! API, the four model calls through the proxy, then /usage, /logs and every export
//! agree with the ledger to the nano-dollar.

use awc::http::StatusCode;
use chrono::{Datelike, Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::*;

const MASTER: &str = "sk-walkthrough-master";

async fn api(app: &TestApp, path: &str, body: Value) -> Value {
    let resp = app.post_json(path, &body, Some(MASTER)).await;
    assert_eq!(resp.status, StatusCode::OK, "{path}: {}", resp.body);
    resp.json()
}

/// Steps 2-4: returns zhangsan's key.
async fn set_up_and_call(app: &TestApp) -> String {
    let team = api(
        app,
        "/team/new",
        json!({"team_alias": "研发部门", "max_budget": 100, "budget_duration": "monthly"}),
    )
    .await;
    let team_id = team["team_id"].as_str().unwrap().to_string();
    for (user, budget) in [("zhangsan", 20), ("lisi", 30)] {
        api(app, "/user/new", json!({"user_id": user, "user_role": "internal_user", "team_id": team_id, "max_budget": budget})).await;
    }
    let key = api(app, "/key/generate", json!({"key_alias": "zhangsan-dev-key", "user_id": "zhangsan", "team_id": team_id, "max_budget": 20})).await;
    api(app, "/key/generate", json!({"key_alias": "lisi-dev-key", "user_id": "lisi", "team_id": team_id, "max_budget": 30})).await;
    let info = app
        .get_bearer(&format!("/team/info?team_id={team_id}"), MASTER)
        .await
        .json();
    assert_eq!(info["remaining_budget"].as_f64(), Some(50.0), "{info}");
    let secret = key["key"].as_str().unwrap().to_string();
    let prompts = [
        "你好，请用一句话介绍你自己",
        "什么是人工智能？",
        "写一首关于春天的诗",
        "1+1等于几？",
    ];
    for (model, prompt) in WALKTHROUGH_MODELS.iter().zip(prompts) {
        let resp = app.chat(&secret, &chat_body(model, prompt)).await;
        assert_eq!(resp.status, StatusCode::OK, "{model}: {}", resp.body);
    }
    app.flush_ledger().await;
    secret
}

#[actix_web::test]
async fn usage_and_logs_show_exactly_the_four_walkthrough_calls() {
    let app =
        spawn_app_with(|c| c.server.master_key = Some(tollgate::config::Secret::literal(MASTER)))
            .await;
    let key = set_up_and_call(&app).await;
    let spend = app.query_i64("SELECT SUM(cost) FROM request_logs");
    let prompt = app.query_i64("SELECT SUM(prompt_tokens) FROM request_logs");
    let completion = app.query_i64("SELECT SUM(completion_tokens) FROM request_logs");
    app.login_as_admin().await;
    for view in ["live", "today", "week", "month"] {
        let s = app.get(&format!("/usage/summary?view={view}")).await.json();
        let t = &s["totals"];
        assert_eq!(t["requests"], 4, "{view}: {s}");
        assert_eq!(t["successes"], 4);
        assert_eq!(t["failures"], 0);
        assert_eq!(t["spend_nanos"].as_i64(), Some(spend));
        assert_eq!(t["prompt_tokens"].as_i64(), Some(prompt));
        assert_eq!(t["completion_tokens"].as_i64(), Some(completion));
        let models = s["by_model"].as_array().unwrap();
        assert_eq!(models.len(), 4);
        for m in models {
            let name = m["model"].as_str().unwrap();
            let cost = app.query_i64(&format!(
                "SELECT cost FROM request_logs WHERE model = '{name}'"
            ));
            assert_eq!(m["usage"]["spend_nanos"].as_i64(), Some(cost), "{name}");
            assert_eq!(m["usage"]["requests"], 1);
        }
    }
    let page = app.get("/usage?view=today").await;
    assert!(page.body.contains("总消费金额") && page.body.contains("gemini-pro"));
    let logs = app.get("/logs").await;
    assert_eq!(logs.status, StatusCode::OK);
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let ids: Vec<String> = conn
        .prepare("SELECT request_id FROM request_logs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for id in &ids {
        assert!(logs.body.contains(id.as_str()), "{id} listed");
    }
    let detail = app.get(&format!("/logs/{}", ids[0])).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(detail.body.contains("zhangsan-dev-key") && detail.body.contains(ids[0].as_str()));
    assert!(!detail.body.contains(&key), "the secret never appears");
}

fn week_and_month() -> [(String, String); 2] {
    let today = Utc::now().date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let first = today.with_day(1).unwrap();
    let next_month = (first + Duration::days(32)).with_day(1).unwrap();
    [
        (monday.to_string(), (monday + Duration::days(6)).to_string()),
        (
            first.to_string(),
            (next_month - Duration::days(1)).to_string(),
        ),
    ]
}

#[actix_web::test]
async fn every_export_matches_the_ledger_for_a_week_and_a_month() {
    let app =
        spawn_app_with(|c| c.server.master_key = Some(tollgate::config::Secret::literal(MASTER)))
            .await;
    set_up_and_call(&app).await;
    let spend = app.query_i64("SELECT SUM(cost) FROM request_logs");
    let tokens = app.query_i64("SELECT SUM(prompt_tokens + completion_tokens) FROM request_logs");
    for (start, end) in week_and_month() {
        for entity in ["team", "user", "key"] {
            for scope in ["daily", "daily_with_keys", "daily_with_models"] {
                let q = format!(
                    "/usage/export?start_date={start}&end_date={end}&entity={entity}&scope={scope}"
                );
                let csv = app.get_bearer(&format!("{q}&format=csv"), MASTER).await;
                assert_eq!(csv.status, StatusCode::OK, "{q}: {}", csv.body);
                assert!(csv.body.starts_with('\u{feff}'));
                let mut lines = csv
                    .body
                    .trim_start_matches('\u{feff}')
                    .split("\r\n")
                    .filter(|l| !l.is_empty());
                let header: Vec<&str> = lines.next().unwrap().split(',').collect();
                let name = match entity {
                    "team" => "Team",
                    "user" => "User",
                    _ => "Key",
                };
                let mut expected = vec!["Date", name, "Entity ID"];
                match scope {
                    "daily_with_keys" => expected.extend(["Key Alias", "Key ID"]),
                    "daily_with_models" => expected.push("Model"),
                    _ => {}
                }
                expected.extend([
                    "Spend ($)",
                    "Requests",
                    "Successful Requests",
                    "Failed Requests",
                    "Total Tokens",
                    "Prompt Tokens",
                    "Completion Tokens",
                ]);
                assert_eq!(header, expected, "{q}");
                let json = app
                    .get_bearer(&format!("{q}&format=json"), MASTER)
                    .await
                    .json();
                let rows = json.as_array().unwrap();
                let sum = |col: &str| rows.iter().map(|r| r[col].as_f64().unwrap()).sum::<f64>();
                assert_eq!(sum("Requests"), 4.0, "{q}");
                assert_eq!(sum("Successful Requests"), 4.0, "{q}");
                assert_eq!(sum("Total Tokens") as i64, tokens, "{q}");
                assert!((sum("Spend ($)") - spend as f64 / 1e9).abs() < 1e-5, "{q}");
                if entity == "team" {
                    assert!(rows.iter().all(|r| r["Team"] == "研发部门"), "{q}: {json}");
                }
                if scope == "daily_with_models" {
                    assert_eq!(rows.len(), 4, "{q}");
                }
            }
        }
    }
}

#[actix_web::test]
async fn key_changes_through_the_api_apply_to_the_very_next_request() {
    let app =
        spawn_app_with(|c| c.server.master_key = Some(tollgate::config::Secret::literal(MASTER)))
            .await;
    let generated = api(
        &app,
        "/key/generate",
        json!({"key_alias": "k", "models": ["gpt-4o"]}),
    )
    .await;
    let old = generated["key"].as_str().unwrap().to_string();
    assert_eq!(
        app.chat(&old, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.chat(&old, &chat_body("gemini-pro", "hi")).await.status,
        StatusCode::UNAUTHORIZED
    );
    api(
        &app,
        "/key/update",
        json!({"key": old, "models": ["gpt-4o", "gemini-pro"]}),
    )
    .await;
    assert_eq!(
        app.chat(&old, &chat_body("gemini-pro", "hi")).await.status,
        StatusCode::OK
    );
    api(&app, "/key/block", json!({"key": old})).await;
    assert_eq!(
        app.chat(&old, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::UNAUTHORIZED
    );
    api(&app, "/key/unblock", json!({"key": old})).await;
    let fresh = api(&app, "/key/regenerate", json!({"key": old})).await;
    let new = fresh["key"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(
        app.chat(&old, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::UNAUTHORIZED,
        "old secret dead at once"
    );
    assert_eq!(
        app.chat(&new, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::OK
    );
    api(&app, "/key/delete", json!({"keys": [new]})).await;
    assert_eq!(
        app.chat(&new, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn a_disabled_user_s_keys_stop_working() {
    let app =
        spawn_app_with(|c| c.server.master_key = Some(tollgate::config::Secret::literal(MASTER)))
            .await;
    api(
        &app,
        "/user/new",
        json!({"user_id": "wangwu", "user_role": "internal_user"}),
    )
    .await;
    let key = api(
        &app,
        "/key/generate",
        json!({"key_alias": "w", "user_id": "wangwu"}),
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.chat(&key, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::OK
    );
    api(
        &app,
        "/user/update",
        json!({"user_id": "wangwu", "disabled": true}),
    )
    .await;
    let refused = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("disabled"));
    api(
        &app,
        "/user/update",
        json!({"user_id": "wangwu", "disabled": false}),
    )
    .await;
    assert_eq!(
        app.chat(&key, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::OK
    );
}
