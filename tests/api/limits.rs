//! rpm/tpm limits set through the management API are enforced by the proxy.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

const MASTER: &str = "sk-limits-master";

async fn app() -> TestApp {
    spawn_app_with(|c| c.server.master_key = Some(tollgate::config::Secret::literal(MASTER))).await
}

#[actix_web::test]
async fn a_key_rpm_limit_from_the_api_is_enforced_and_shown() {
    let app = app().await;
    let resp = app
        .post_json(
            "/key/generate",
            &json!({"key_alias": "slow", "rpm_limit": 1}),
            Some(MASTER),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    assert_eq!(resp.json()["rpm_limit"], 1);
    let key = resp.json()["key"].as_str().unwrap().to_string();
    let first = app.chat(&key, &chat_body("gpt-4o", "1")).await;
    let second = app.chat(&key, &chat_body("gpt-4o", "2")).await;
    // Both may only pass if they straddle a minute boundary.
    if first.status == StatusCode::OK && second.status != StatusCode::OK {
        assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(second.json()["error"]["type"], "rate_limit_error");
        assert!(second.header("retry-after").is_some());
    }
    let info = app
        .get_bearer(&format!("/key/info?key={key}"), MASTER)
        .await
        .json();
    assert_eq!(info["info"]["rpm_limit"], 1);
    let cleared = app
        .post_json(
            "/key/update",
            &json!({"key": key, "rpm_limit": null}),
            Some(MASTER),
        )
        .await;
    assert_eq!(cleared.json()["rpm_limit"], serde_json::Value::Null);
}

#[actix_web::test]
async fn a_team_tpm_limit_stops_its_keys_once_used_up() {
    let app = app().await;
    let team = app
        .post_json(
            "/team/new",
            &json!({"team_alias": "t", "tpm_limit": 10}),
            Some(MASTER),
        )
        .await
        .json();
    assert_eq!(team["tpm_limit"], 10);
    let key = app
        .post_json(
            "/key/generate",
            &json!({"key_alias": "k", "team_id": team["team_id"]}),
            Some(MASTER),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let first = app
        .chat(
            &key,
            &chat_body("gpt-4o", "a prompt long enough to use more than ten tokens"),
        )
        .await;
    let second = app.chat(&key, &chat_body("gpt-4o", "again")).await;
    if first.status == StatusCode::OK && second.status != StatusCode::OK {
        assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(second.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team"));
    }
}

#[actix_web::test]
async fn bad_limits_are_refused_and_change_nothing() {
    let app = app().await;
    for body in [
        json!({"key_alias": "neg", "rpm_limit": -1}),
        json!({"key_alias": "zero", "tpm_limit": 0}),
        json!({"key_alias": "text", "rpm_limit": "many"}),
    ] {
        let resp = app.post_json("/key/generate", &body, Some(MASTER)).await;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            resp.body
        );
        assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    }
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM keys"), 0);
}
