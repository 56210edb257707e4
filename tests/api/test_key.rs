//! 密钥调试: the page explains a key without echoing it, and sends a test message
//! through the real proxy.

use awc::http::StatusCode;

use crate::helpers::*;

async fn submit(app: &TestApp, key: &str, action: &str, model: &str) -> Resp {
    let csrf = app.csrf().await;
    app.post_form(
        "/test-key",
        &[
            ("csrf_token", &csrf),
            ("key", key),
            ("model", model),
            ("message", "1+1等于几？"),
            ("action", action),
        ],
    )
    .await
}

#[actix_web::test]
async fn a_working_key_is_explained_and_never_echoed() {
    let app = spawn_app().await;
    app.login_as_admin().await;
    let key = app
        .insert_key(KeySpec {
            alias: "zhangsan-dev-key",
            budget_usd: Some(20.0),
            models: &["gpt-4o"],
            ..KeySpec::default()
        })
        .await;
    let page = app.get("/test-key").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("密钥调试"));
    let resp = submit(&app, &key, "check", "gpt-4o").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.body.contains("此密钥当前可用"), "{}", resp.body);
    assert!(resp.body.contains("zhangsan-dev-key") && resp.body.contains("20.00"));
    assert!(!resp.body.contains(&key), "the secret must never be echoed");
    assert!(resp
        .body
        .contains(&format!("sk-…{}", &key[key.len() - 4..])));
}

#[actix_web::test]
async fn a_test_message_shows_reply_cost_and_remaining_budget() {
    let app = spawn_app().await;
    app.login_as_admin().await;
    let key = app
        .insert_key(KeySpec {
            alias: "k",
            budget_usd: Some(20.0),
            ..KeySpec::default()
        })
        .await;
    let resp = submit(&app, &key, "send", "claude-3-5-sonnet").await;
    assert!(resp.body.contains("simulated anthropic"), "{}", resp.body);
    assert!(resp.body.contains("19.99"), "remaining budget shown");
    assert!(!resp.body.contains(&key));
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1"),
        1
    );
}

#[actix_web::test]
async fn broken_keys_say_why() {
    let app = spawn_app().await;
    app.login_as_admin().await;
    let unknown = submit(&app, "sk-not-a-real-key", "check", "gpt-4o").await;
    assert!(unknown.body.contains("未知密钥"));
    let blocked = app
        .insert_key(KeySpec {
            alias: "b",
            blocked: true,
            ..KeySpec::default()
        })
        .await;
    let resp = submit(&app, &blocked, "check", "gpt-4o").await;
    assert!(
        resp.body.contains("此密钥当前不可用") && resp.body.contains("blocked"),
        "{}",
        resp.body
    );
    let limited = app
        .insert_key(KeySpec {
            alias: "only-gpt",
            models: &["gpt-4o"],
            ..KeySpec::default()
        })
        .await;
    let resp = submit(&app, &limited, "send", "mistral-large").await;
    assert!(
        resp.body.contains("permission_error"),
        "the client's error is shown: {}",
        resp.body
    );
}

#[actix_web::test]
async fn the_debugger_needs_a_session_and_a_csrf_token() {
    let app = spawn_app().await;
    assert_eq!(app.get("/test-key").await.status, StatusCode::SEE_OTHER);
    app.login_as_admin().await;
    let resp = app
        .post_form("/test-key", &[("csrf_token", "forged"), ("key", "sk-x")])
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_spent_budget_is_named_in_the_page_language() {
    let app = spawn_app().await;
    app.login_as_admin().await;
    // The first key of a fresh database gets id 1: give it 1 USD of spend this hour.
    app.sql("INSERT INTO usage_hourly (hour, key_id, user_id, team_id, model, requests, successes, spend)
             VALUES (CAST(strftime('%s','now') AS INTEGER) / 3600, 1, 0, 0, 'gpt-4o', 1, 1, 1000000000)").await;
    let key = app
        .insert_key(KeySpec {
            alias: "spent-key",
            budget_usd: Some(1.0),
            ..KeySpec::default()
        })
        .await;
    let resp = submit(&app, &key, "check", "gpt-4o").await;
    assert!(resp.body.contains("此密钥当前不可用"), "{}", resp.body);
    assert!(
        resp.body.contains("密钥 spent-key 的预算已用完"),
        "{}",
        resp.body
    );
}
