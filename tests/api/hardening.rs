//! The defects found under attack (issue 14), each pinned through HTTP as a client
//! would meet it: `n` against strict budgets, unknown and overlong model names,
//! half-sent bodies, and rate windows.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

#[actix_web::test]
async fn n_choices_are_reserved_against_a_strict_budget_and_capped_at_128() {
    let app = spawn_app().await;
    // gpt-4o at $10 per million output tokens: 100 tokens ≈ $0.001 per choice.
    let key = app
        .insert_key(KeySpec {
            alias: "tight",
            budget_usd: Some(0.0015),
            ..KeySpec::default()
        })
        .await;
    let mut one = chat_body("gpt-4o", "hello");
    one["max_tokens"] = json!(100);
    let mut eight = one.clone();
    eight["n"] = json!(8);
    let resp = app.chat(&key, &eight).await;
    assert_eq!(resp.status.as_u16(), 400, "{}", resp.body);
    assert_eq!(resp.json()["error"]["type"], "budget_exceeded");
    assert!(
        app.sim.received().is_empty(),
        "refused before any provider call"
    );
    assert_eq!(app.chat(&key, &one).await.status.as_u16(), 200);

    for n in [129_u64, 4_000_000_000] {
        let mut many = one.clone();
        many["n"] = json!(n);
        let resp = app.chat(&key, &many).await;
        assert_eq!(resp.status.as_u16(), 400, "{}", resp.body);
        assert_eq!(resp.json()["error"]["param"], "n");
    }
}

#[actix_web::test]
async fn unknown_model_names_never_become_labels_and_count_against_rate_limits() {
    let app = spawn_app().await;
    let key = app
        .insert_key(KeySpec {
            alias: "two-rpm",
            rpm: Some(2),
            ..KeySpec::default()
        })
        .await;
    let long = "x".repeat(4 * 1024 * 1024 - 200);
    let forged = "evil\nINFO request finished model=gpt-4o\u{1b}[31m";
    let mut statuses = Vec::new();
    for name in [long.as_str(), forged, "nope-1", "nope-2", "nope-3"] {
        statuses.push(app.chat(&key, &chat_body(name, "hi")).await.status.as_u16());
    }
    assert_eq!(statuses[..2], [400, 404], "{statuses:?}");
    assert!(
        statuses[2..].iter().all(|s| *s == 429),
        "the 2-rpm key got more through: {statuses:?}"
    );
    app.flush_ledger().await;
    let models = app.query_text("SELECT group_concat(DISTINCT model) FROM request_logs");
    assert_eq!(models, "unknown");
    let errors = app.query_text("SELECT group_concat(coalesce(error, ''), '|') FROM request_logs");
    assert!(
        !errors.contains('\n') && !errors.contains('\u{1b}'),
        "{errors:?}"
    );
    assert!(errors.len() < 4096, "no 4 MB name in the log");
    let rollup_models = app.query_text("SELECT group_concat(DISTINCT model) FROM usage_hourly");
    assert_eq!(rollup_models, "unknown");
    let metrics = app.get("/metrics").await.body;
    assert!(
        !metrics.contains("nope-1") && !metrics.contains("evil") && !metrics.contains("xxxxxxxx")
    );
}

/// Sends a request head announcing `length` body bytes and only `sent` of them;
/// returns the status line and how long the gateway took to answer.
async fn half_sent(
    app: &TestApp,
    key: Option<&str>,
    length: usize,
    sent: &str,
) -> (String, Duration) {
    let addr = app.url.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = key
        .map(|k| format!("authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n{auth}content-length: {length}\r\n\r\n{sent}"
    );
    let started = Instant::now();
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
        .await
        .expect("an answer before the client sends the rest")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    (
        text.lines().next().unwrap_or_default().to_string(),
        started.elapsed(),
    )
}

#[actix_web::test]
async fn the_key_is_checked_before_the_body_and_a_half_sent_body_times_out() {
    let app = spawn_app_with(|c| c.server.body_timeout_s = 1).await;
    let (status, took) = half_sent(&app, None, 100_000, "{\"model\":").await;
    assert!(status.contains("401"), "{status}");
    assert!(
        took < Duration::from_millis(900),
        "answered without waiting for the body: {took:?}"
    );
    let (status, _) = half_sent(
        &app,
        Some("sk-not-a-real-key-000000000000000"),
        100_000,
        "{",
    )
    .await;
    assert!(status.contains("401"), "{status}");

    let key = app.key("slow").await;
    let (status, took) = half_sent(&app, Some(&key), 100_000, "{\"model\":").await;
    assert!(status.contains("408"), "{status}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[actix_web::test]
async fn a_stream_cut_short_never_costs_more_than_the_whole_answer() {
    use futures_util::StreamExt;
    let app = spawn_app().await;
    let key = app.key("k").await;
    let text = "Please write a short story about the mountains, the sea, a lighthouse keeper \
                and the long winter nights they shared with the seabirds and the wind.";
    let full = app.chat(&key, &stream_body("gpt-4o", text)).await;
    assert_eq!(full.status.as_u16(), 200);
    let events = sse_data(&full.body).len();
    assert!(events > 12, "a long enough answer: {events}");

    let body = app.paced_stream_body(tollgate::simulator::SimProvider::OpenAi, "gpt-4o", 40, text);
    let client = awc::Client::default();
    let mut resp = client
        .post(format!("{}/v1/chat/completions", app.url))
        .bearer_auth(&key)
        .send_json(&body)
        .await
        .unwrap();
    let mut got = 0;
    while got < 10 {
        let chunk = resp.next().await.expect("a chunk").unwrap();
        got += String::from_utf8_lossy(&chunk).matches("data: ").count();
    }
    drop(resp);
    drop(client);
    for _ in 0..200 {
        app.flush_ledger().await;
        if app.query_i64("SELECT COUNT(*) FROM request_logs") == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let full_cost = app.query_i64("SELECT cost FROM request_logs WHERE http_status = 200");
    let cut_cost = app.query_i64("SELECT cost FROM request_logs WHERE http_status = 499");
    assert!(cut_cost > 0, "what was streamed is charged");
    assert!(
        cut_cost <= full_cost,
        "cut after {got} of {events} events: {cut_cost} > {full_cost}; {}",
        app.query_text(
            "SELECT group_concat(prompt_tokens || '/' || completion_tokens, ' ') FROM request_logs"
        )
    );
}

#[actix_web::test]
async fn an_unreadable_model_list_allows_no_model() {
    let app = spawn_app().await;
    let key = app
        .insert_key(KeySpec {
            alias: "listed",
            models: &["gpt-4o"],
            ..KeySpec::default()
        })
        .await;
    assert_eq!(
        app.chat(&key, &chat_body("gpt-4o", "hi"))
            .await
            .status
            .as_u16(),
        200
    );
    app.sql("UPDATE keys SET models = '[\"gpt-4o\"' WHERE alias = 'listed'")
        .await;
    for model in ["gpt-4o", "claude-3-5-sonnet"] {
        let resp = app.chat(&key, &chat_body(model, "hi")).await;
        assert_eq!(resp.status.as_u16(), 401, "{model}: {}", resp.body);
    }
}
