//! Virtual keys: shown once and stored only as a hash, info by key or token,
//! regenerate, block, expiry, edit, and bad input through pages and API.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn only_the_hash_is_stored_and_info_accepts_the_key_or_its_token() {
    let app = spawn_entities_app().await;
    let (secret, token) = app
        .generate_key(json!({"key_alias": "ci", "max_budget": 5, "budget_duration": "30d", "models": ["gpt-4o"]}))
        .await;
    assert_eq!(secret.len(), 3 + 40);
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let stored: String = conn
        .query_row("SELECT token FROM keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, token);
    assert_ne!(stored, secret);
    let dump: String = conn
        .query_row(
            "SELECT group_concat(detail || target) FROM audit_log",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!dump.contains(&secret[3..]), "the secret is never logged");

    for key in [secret.as_str(), token.as_str()] {
        let info = app.api_get(&format!("/key/info?key={key}")).await;
        assert_eq!(info.status, StatusCode::OK, "{}", info.body);
        let info = info.json();
        assert_eq!(info["key"], token.as_str());
        assert_eq!(info["info"]["key_alias"], "ci");
        assert_eq!(info["info"]["max_budget"], 5.0);
        assert_eq!(info["info"]["remaining_budget"], 5.0);
        assert_eq!(info["info"]["spend"], 0.0);
        assert_eq!(info["info"]["budget_duration"], "monthly");
        assert_eq!(info["info"]["models"], json!(["gpt-4o"]));
        assert_eq!(info["info"]["blocked"], false);
        // SPEC §4 names the figures on /key/info itself; LiteLLM nests them under `info`.
        for field in [
            "max_budget",
            "spend",
            "remaining_budget",
            "models",
            "expires",
            "blocked",
            "user_id",
            "team_id",
        ] {
            assert_eq!(info[field], info["info"][field], "{field}");
            assert!(info.get(field).is_some(), "{field}");
        }
        assert_eq!(info["key"], token.as_str());
        assert!(info["info"]["budget_reset_at"].is_string());
        assert!(!info.to_string().contains(&secret));
    }
    let list = app.api_get("/key/list").await.json();
    assert_eq!(list["total_count"], 1);
    assert_eq!(
        list["keys"][0]["key_name"],
        format!("sk-…{}", &secret[secret.len() - 4..])
    );
}

#[actix_web::test]
async fn regenerate_keeps_the_settings_and_kills_the_old_secret() {
    let app = spawn_entities_app().await;
    let (old, token) = app
        .generate_key(json!({"key_alias": "ci", "max_budget": 7}))
        .await;
    let resp = app.api("/key/regenerate", json!({"key": old})).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    let new = resp.json();
    let new_key = new["key"].as_str().unwrap();
    assert_ne!(new_key, old);
    assert_ne!(new["token"], token.as_str());
    assert_eq!(new["max_budget"], 7.0);
    assert_eq!(new["key_alias"], "ci");
    assert_eq!(
        app.api_get(&format!("/key/info?key={old}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api_get(&format!("/key/info?key={new_key}"))
            .await
            .status,
        StatusCode::OK
    );

    app.login_as_admin().await;
    let new_token = new["token"].as_str().unwrap();
    let page = app
        .post_page(&format!("/virtual-keys/{new_token}/regenerate"), &[])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let shown = secret_from(&page.body).expect("shown once");
    assert_ne!(shown, new_key);
    assert_eq!(app.count("keys"), 1);
}

/// The row buttons share one route: each action does its own thing, and any other
/// action name is a 404 that changes nothing.
#[actix_web::test]
async fn row_buttons_block_and_an_unknown_action_is_not_found() {
    let app = spawn_entities_app().await;
    let (_, token) = app.generate_key(json!({"key_alias": "row"})).await;
    app.login_as_admin().await;
    let page = app
        .post_page(&format!("/virtual-keys/{token}/remove"), &[])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("keys"), 1);
    let page = app
        .post_page(&format!("/virtual-keys/{token}/block"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let info = app.api_get(&format!("/key/info?key={token}")).await.json();
    assert_eq!(info["info"]["blocked"], true);
}

#[actix_web::test]
async fn block_and_unblock_are_recorded_and_visible() {
    let app = spawn_entities_app().await;
    let (secret, token) = app.generate_key(json!({"key_alias": "ci"})).await;
    let blocked = app.api("/key/block", json!({"key": secret})).await;
    assert_eq!(blocked.json()["blocked"], true);
    app.login_as_admin().await;
    assert!(app.get("/virtual-keys").await.body.contains("已禁用"));
    let page = app
        .post_page(&format!("/virtual-keys/{token}/unblock"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let info = app.api_get(&format!("/key/info?key={token}")).await.json();
    assert_eq!(info["info"]["blocked"], false);
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let actions: Vec<(String, String)> = conn
        .prepare("SELECT action, actor FROM audit_log WHERE action LIKE 'key.%' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected = [
        ("key.create", "master_key"),
        ("key.block", "master_key"),
        ("key.unblock", "admin"),
    ];
    let actions: Vec<(&str, &str)> = actions
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(actions, expected);
}

#[actix_web::test]
async fn durations_and_dates_set_the_expiry() {
    let app = spawn_entities_app().await;
    let resp = app
        .api(
            "/key/generate",
            json!({"key_alias": "short", "duration": "12h"}),
        )
        .await;
    let expires = resp.json()["expires"].as_str().unwrap().to_string();
    let at = chrono::DateTime::parse_from_rfc3339(&expires).unwrap();
    let hours = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((715..=720).contains(&hours), "{hours}");

    app.login_as_admin().await;
    let fields = [
        ("key_alias", "dated"),
        ("models_mode", "all"),
        ("expiry", "date"),
        ("expiry_date", "2999-01-31"),
    ];
    let page = app.post_page("/virtual-keys", &fields).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("2999-02-01 00:00"),
        "valid through the chosen day"
    );
    let past = [
        ("key_alias", "old"),
        ("expiry", "date"),
        ("expiry_date", "2000-01-01"),
    ];
    let page = app.post_page("/virtual-keys", &past).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("到期日期"));
}

#[actix_web::test]
async fn keys_are_edited_on_their_page() {
    let app = spawn_entities_app().await;
    let (_, token) = app
        .generate_key(json!({"key_alias": "ci", "max_budget": 5}))
        .await;
    app.login_as_admin().await;
    assert_eq!(
        app.get(&format!("/virtual-keys/{token}")).await.status,
        StatusCode::OK
    );
    let fields = [
        ("key_alias", "ci-2"),
        ("max_budget", "9"),
        ("budget_duration", "daily"),
        ("models_mode", "list"),
        ("models", "mistral-large"),
        ("expiry", "30d"),
    ];
    let resp = app
        .post_page(&format!("/virtual-keys/{token}"), &fields)
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    let info = app.api_get(&format!("/key/info?key={token}")).await.json()["info"].clone();
    assert_eq!(info["key_alias"], "ci-2");
    assert_eq!(info["max_budget"], 9.0);
    assert_eq!(info["models"], json!(["mistral-large"]));
    assert!(info["expires"].is_string());
}

#[actix_web::test]
async fn bad_key_input_through_the_api_is_refused_and_nothing_is_created() {
    let app = spawn_entities_app().await;
    let team_id = app.create_team("研发部门", 100.0).await;
    let narrow = app
        .api(
            "/team/new",
            json!({"team_alias": "narrow", "models": ["gpt-4o"]}),
        )
        .await
        .json();
    app.create_user("zhangsan", "internal_user", None, None, None)
        .await;
    app.generate_key(json!({"key_alias": "taken"})).await;
    let before = app.entity_counts();
    let cases = [
        (json!({"key_alias": " "}), 400, "must not be empty"),
        (json!({"key_alias": "taken"}), 400, "already exists"),
        (
            json!({"key_alias": "k", "user_id": "nobody"}),
            404,
            "no user",
        ),
        (
            json!({"key_alias": "k", "team_id": "team-nope"}),
            404,
            "no team",
        ),
        (
            json!({"key_alias": "k", "models": ["gpt-5"]}),
            400,
            "unknown model",
        ),
        (
            json!({"key_alias": "k", "team_id": narrow["team_id"], "models": ["gemini-pro"]}),
            400,
            "not allowed for team",
        ),
        (
            json!({"key_alias": "k", "duration": "forever"}),
            400,
            "duration",
        ),
        (json!({"key_alias": "k", "max_budget": -3}), 400, "negative"),
        (
            json!({"key_alias": "k", "max_budget": 0.12345}),
            400,
            "4 decimals",
        ),
        (
            json!({"key_alias": "k", "user_id": "zhangsan", "team_id": team_id}),
            400,
            "not a member",
        ),
        (
            json!({"key_alias": "k", "team_id": team_id, "max_budget": 100.01}),
            400,
            "100.00 USD",
        ),
    ];
    for (body, status, message) in cases {
        let resp = app.api("/key/generate", body.clone()).await;
        assert_eq!(resp.status.as_u16(), status, "{body}: {}", resp.body);
        assert!(
            error_message(&resp).contains(message),
            "{body}: {}",
            resp.body
        );
    }
    let missing = app
        .api("/key/block", json!({"key": "sk-does-not-exist"}))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let malformed = app
        .post_raw(
            "/key/generate",
            "application/json",
            "{not json",
            Some(MASTER_KEY),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.entity_counts(), before);
}

#[actix_web::test]
async fn bad_key_input_on_the_page_is_refused_inline_and_nothing_is_created() {
    let app = spawn_entities_app().await;
    app.create_team("研发部门", 100.0).await;
    app.login_as_admin().await;
    let before = app.entity_counts();
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("key_alias", "")], "密钥别名不能为空"),
        (
            &[("key_alias", "k"), ("max_budget", "abc")],
            "不是有效的数字",
        ),
        (
            &[("key_alias", "k"), ("user", "nobody")],
            "用户「nobody」不存在",
        ),
        (
            &[
                ("key_alias", "k"),
                ("models_mode", "list"),
                ("models", "gpt-5"),
            ],
            "未知模型",
        ),
        (&[("key_alias", "k"), ("expiry", "forever")], "有效期"),
    ];
    for (fields, message) in cases {
        let resp = app.post_page("/virtual-keys", fields).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(resp.body.contains(message), "{fields:?}: {}", resp.body);
        assert!(secret_from(&resp.body).is_none());
    }
    assert_eq!(app.entity_counts(), before);
}
