//! Faults: clients that go away mid-stream, a database that stops taking writes, and
//! many parallel requests against a nearly spent budget.

use std::time::Duration;

use awc::http::StatusCode;
use futures_util::StreamExt;
use serde_json::json;
use tollgate::simulator::{FaultKind, SimProvider};

use crate::helpers::*;

async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached in 10 s");
}

#[actix_web::test]
async fn a_client_that_disconnects_mid_stream_is_still_charged_for_what_it_got() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let body = app.paced_stream_body(
        SimProvider::OpenAi,
        "gpt-4o",
        200,
        "tell me a long story about the mountains and the sea",
    );
    let client = awc::Client::default();
    let mut resp = client
        .post(format!("{}/chat/completions", app.url))
        .bearer_auth(&key)
        .send_json(&body)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let first = resp.next().await.expect("a first chunk").unwrap();
    assert!(!first.is_empty());
    drop(resp);
    drop(client);
    wait_until(|| {
        app.state
            .ledger
            .stats()
            .enqueued
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    })
    .await;
    app.flush_ledger().await;
    assert_eq!(app.query_i64("SELECT http_status FROM request_logs"), 499);
    assert!(app.query_i64("SELECT prompt_tokens FROM request_logs") > 0);
    assert!(
        app.query_i64("SELECT cost FROM request_logs") > 0,
        "what was streamed is charged"
    );
}

/// SPEC §14 with a locked database: an answer that cannot be charged is not handed
/// over (a bounded wait, then 503; its row is written once the lock goes), new
/// requests are refused at once while the commit is stalled, readiness says so, and
/// everything recovers by itself.
#[actix_web::test]
async fn a_database_that_cannot_take_writes_gives_503_and_loses_nothing() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let locker = rusqlite::Connection::open(&app.db_path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = std::time::Instant::now();
    let early = app.chat(&key, &chat_body("gpt-4o", "before")).await;
    assert_eq!(early.status.as_u16(), 503, "{}", early.body);
    assert_eq!(early.json()["error"]["code"], "service_unavailable");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a bounded wait"
    );
    let early_id = early.header("x-request-id").unwrap();

    let started = std::time::Instant::now();
    let refused = app.chat(&key, &chat_body("gpt-4o", "during")).await;
    assert_eq!(refused.status.as_u16(), 503, "{}", refused.body);
    assert_eq!(refused.json()["error"]["type"], "api_error");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "refused at once"
    );
    let stream = app.chat(&key, &stream_body("gpt-4o", "during")).await;
    assert_eq!(stream.status.as_u16(), 503, "{}", stream.body);
    assert_eq!(app.get("/health/readiness").await.status.as_u16(), 503);
    let login = app.login("admin", crate::helpers::ADMIN_PASSWORD).await;
    assert_eq!(
        login.status.as_u16(),
        503,
        "a locked database is not an internal error"
    );

    locker.execute_batch("COMMIT").unwrap();
    app.flush_ledger().await;
    assert!(app.state.ledger.accepting());
    assert_eq!(app.get("/health/readiness").await.status.as_u16(), 200);
    assert_eq!(
        app.query_i64(&format!(
            "SELECT COUNT(*) FROM request_logs WHERE request_id = '{early_id}' AND success = 1"
        )),
        1,
        "the provider's answer was charged once the database came back"
    );
    assert_eq!(
        app.chat(&key, &chat_body("gpt-4o", "after")).await.status,
        StatusCode::OK
    );
    let stream = app.chat(&key, &stream_body("gpt-4o", "after")).await;
    assert!(
        stream.body.trim_end().ends_with("data: [DONE]"),
        "{}",
        stream.body
    );
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1"),
        3
    );
}

/// A streamed answer's terminator is the acknowledgement: with the database locked,
/// the text may flow but `[DONE]` does not come; an error event ends the stream.
#[actix_web::test]
async fn a_stream_whose_row_cannot_be_committed_ends_without_done() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let locker = rusqlite::Connection::open(&app.db_path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let resp = app.chat(&key, &stream_body("gpt-4o", "locked")).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(!resp.body.contains("[DONE]"), "{}", resp.body);
    assert!(resp.body.contains("service_unavailable"), "{}", resp.body);
    locker.execute_batch("COMMIT").unwrap();
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1"),
        1
    );
}

#[actix_web::test]
async fn many_parallel_requests_cannot_overspend_a_small_budget() {
    let app = spawn_app().await;
    // About ten requests' worth of budget at max_tokens 20.
    let key = app
        .insert_key(KeySpec {
            alias: "tight",
            budget_usd: Some(0.003),
            ..KeySpec::default()
        })
        .await;
    let mut body = chat_body("gpt-4o", "hello hello hello");
    body["max_tokens"] = json!(20);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let calls = (0..1_000).map(|_| {
        let req = client
            .post(format!("{}/chat/completions", app.url))
            .bearer_auth(&key)
            .send_json(&body);
        async move {
            let mut r = req.await.unwrap();
            let status = r.status().as_u16();
            let json: serde_json::Value = r.json().await.unwrap();
            (status, json)
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    for (status, json) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 400);
        assert_eq!(json["error"]["type"], "budget_exceeded");
    }
    assert!((5..1_000).contains(&ok), "{ok} succeeded");
    app.flush_ledger().await;
    let spent = app.query_i64("SELECT SUM(cost) FROM request_logs");
    assert!(
        spent <= 3_000_000,
        "spent {spent} nanos of a 3,000,000 budget"
    );
    eprintln!(
        "1000 parallel requests: {ok} served, {} refused, spent {spent} of 3000000 nanos",
        1_000 - ok
    );
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM request_logs"), 1_000);
}

#[actix_web::test]
async fn a_budget_changed_under_traffic_keeps_charges_the_ledger_has_not_written_yet() {
    let app = spawn_app().await;
    let key = app
        .insert_key(KeySpec {
            alias: "k",
            budget_usd: Some(10.0),
            ..KeySpec::default()
        })
        .await;
    let body = chat_body("gpt-4o", "a question with a few more words in it");
    let cost_of = |resp: &Resp| -> f64 {
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
        resp.header("x-tollgate-cost").unwrap().parse().unwrap()
    };
    let mut charged = 0.0;
    for (round, period) in ["daily", "weekly", "monthly", "daily", "weekly"]
        .into_iter()
        .enumerate()
    {
        // The change gives the key a new budget period, so its spend is counted again
        // from the database while requests are settling and the ledger is still
        // writing the ones before.
        let traffic = futures_util::future::join_all((0..30).map(|_| app.chat(&key, &body)));
        let change = async {
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
            app.sql(&format!(
                "UPDATE keys SET budget_duration = '{period}' WHERE alias = 'k'"
            ))
            .await;
        };
        let (answers, ()) = tokio::join!(traffic, change);
        charged += answers.iter().map(cost_of).sum::<f64>();
        let resp = app.chat(&key, &body).await;
        charged += cost_of(&resp);
        let remaining: f64 = resp
            .header("x-tollgate-key-remaining")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (remaining - (10.0 - charged)).abs() < 1e-5,
            "round {round}: {remaining} left, expected {}",
            10.0 - charged
        );
    }
}

#[actix_web::test]
async fn a_stream_running_when_its_key_gets_a_budget_is_charged_to_that_budget() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let body = app.paced_stream_body(
        SimProvider::OpenAi,
        "gpt-4o",
        40,
        "tell me a story about the sea",
    );
    let set_budget = async {
        actix_web::rt::time::sleep(Duration::from_millis(60)).await;
        app.sql("UPDATE keys SET max_budget = 10000000000 WHERE alias = 'k'")
            .await;
    };
    let (streamed, ()) = tokio::join!(app.chat(&key, &body), set_budget);
    assert!(streamed.body.contains("[DONE]"), "{}", streamed.body);
    let resp = app.chat(&key, &chat_body("gpt-4o", "and one more")).await;
    assert_eq!(resp.status, StatusCode::OK);
    app.flush_ledger().await;
    let spent = app.query_i64("SELECT SUM(cost) FROM request_logs");
    let remaining: f64 = resp
        .header("x-tollgate-key-remaining")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (remaining - (10.0 - spent as f64 / 1e9)).abs() < 1e-5,
        "{remaining} left after {spent} nanos spent"
    );
}

#[actix_web::test]
async fn an_unreachable_provider_is_a_502_after_retries() {
    let app = spawn_app_with(|c| {
        for m in c.models.iter_mut().filter(|m| m.name == "gpt-4o") {
            m.api_base = Some("http://127.0.0.1:1/v1".into());
            m.max_retries = 1;
        }
    })
    .await;
    let key = app.key("k").await;
    let resp = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(resp.status.as_u16(), 502, "{}", resp.body);
    assert_eq!(resp.json()["error"]["type"], "api_error");
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gpt-4o"));
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 0 AND cost = 0"),
        1
    );
}

#[actix_web::test]
async fn a_missing_provider_key_names_the_model_and_does_not_crash() {
    let app = spawn_app_with(|c| {
        for m in c
            .models
            .iter_mut()
            .filter(|m| m.name == "claude-3-5-sonnet")
        {
            m.api_key = None;
        }
    })
    .await;
    let key = app.key("k").await;
    let resp = app.chat(&key, &chat_body("claude-3-5-sonnet", "hi")).await;
    assert_eq!(resp.status.as_u16(), 502);
    let msg = resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("claude-3-5-sonnet") && msg.contains("API key"),
        "{msg}"
    );
    assert!(app.sim.received().is_empty());
    assert_eq!(
        app.chat(&key, &chat_body("gpt-4o", "hi")).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_slow_client_still_gets_the_whole_stream_and_is_charged_once() {
    let app = spawn_app().await;
    let key = app.key("k").await;
    let client = awc::Client::default();
    let body = stream_body("claude-3-5-sonnet", "tell me about the sea");
    let mut resp = client
        .post(format!("{}/chat/completions", app.url))
        .bearer_auth(&key)
        .send_json(&body)
        .await
        .unwrap();
    let mut text = Vec::new();
    while let Some(chunk) = resp.next().await {
        text.extend_from_slice(&chunk.unwrap());
        actix_web::rt::time::sleep(Duration::from_millis(30)).await;
    }
    let text = String::from_utf8(text).unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 1 AND cost > 0"),
        1
    );
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM request_logs"), 1);
}

#[actix_web::test]
async fn a_body_cut_mid_way_is_a_502_and_not_charged_as_success() {
    let app = spawn_app_with(|c| c.models.iter_mut().for_each(|m| m.max_retries = 0)).await;
    let key = app.key("k").await;
    app.sim.push_fault(fault(
        Some(SimProvider::Gemini),
        1,
        FaultKind::CutStream { after_events: 1 },
    ));
    let resp = app.chat(&key, &chat_body("gemini-pro", "hi")).await;
    assert_eq!(resp.status.as_u16(), 502, "{}", resp.body);
    assert_eq!(resp.json()["error"]["type"], "api_error");
    app.flush_ledger().await;
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM request_logs WHERE success = 0 AND http_status = 502"),
        1
    );
}
