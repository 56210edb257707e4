//! Operations: Prometheus metrics and the request id on every proxied response.

use awc::http::StatusCode;

use crate::helpers::*;

#[actix_web::test]
async fn metrics_count_requests_refusals_tokens_and_the_ledger() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    for _ in 0..2 {
        assert_eq!(
            app.chat(&key, &chat_body("gpt-4o", "hi")).await.status,
            StatusCode::OK
        );
    }
    app.sql("INSERT INTO usage_hourly (hour, key_id, user_id, team_id, model, requests, successes, spend)
             VALUES (CAST(strftime('%s','now') AS INTEGER) / 3600, 99, 0, 0, 'gpt-4o', 1, 1, 5000000000)").await;
    let broke = app
        .insert_key(KeySpec {
            alias: "broke",
            budget_usd: Some(0.000001),
            ..KeySpec::default()
        })
        .await;
    assert_eq!(
        app.chat(&broke, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::BAD_REQUEST
    );
    app.flush_ledger().await;
    let m = app.get("/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = m.body;
    assert!(
        text.contains(
            "tollgate_requests_total{model=\"gpt-4o\",provider=\"openai\",status=\"200\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "tollgate_request_failures_total{model=\"gpt-4o\",provider=\"\",status=\"400\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("tollgate_budget_refusals_total 1"));
    assert!(text.contains("tollgate_tokens_total{model=\"gpt-4o\",kind=\"prompt\"}"));
    assert!(
        text.contains("tollgate_request_duration_seconds_bucket{model=\"gpt-4o\",le=\"+Inf\"} 3")
    );
    assert!(text.contains("tollgate_upstream_duration_seconds_count{model=\"gpt-4o\"} 2"));
    assert!(text.contains("tollgate_ledger_rows_written_total 3"));
    assert!(text.contains("tollgate_ledger_queue_depth 0"));
    assert!(!text.contains("tollgate_database_bytes 0\n"));
}

#[actix_web::test]
async fn every_proxied_response_carries_a_request_id_that_is_in_the_log() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let ok = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    let refused = app.chat("sk-unknown", &chat_body("gpt-4o", "hi")).await;
    app.flush_ledger().await;
    for resp in [ok, refused] {
        let id = resp.header("x-request-id").expect("x-request-id");
        let n = app.query_i64(&format!(
            "SELECT COUNT(*) FROM request_logs WHERE request_id = '{id}'"
        ));
        assert_eq!(n, 1, "{id}");
    }
}
