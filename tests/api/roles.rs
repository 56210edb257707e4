//! Roles on every door: an internal_user sees and changes only their own keys, a
//! read-only user changes nothing, admin pages and APIs answer 403, the API needs
//! the master key or a session, and forged CSRF tokens are refused.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Walkthrough setup: 研发部门 100, zhangsan 20 and lisi 30 with keys; zhangsan can log in.
async fn walkthrough_app() -> (TestApp, String) {
    let app = spawn_entities_app().await;
    let team_id = app.create_team("研发部门", 100.0).await;
    app.create_user(
        "zhangsan",
        "internal_user",
        Some(&team_id),
        Some(30.0),
        Some("zhangsan-pass-1"),
    )
    .await;
    app.create_user("lisi", "internal_user", Some(&team_id), Some(30.0), None)
        .await;
    app.create_user(
        "viewer",
        "internal_user_viewer",
        Some(&team_id),
        None,
        Some("viewer-pass-1"),
    )
    .await;
    app.generate_key(json!({"key_alias": "zhangsan-dev-key", "user_id": "zhangsan", "team_id": team_id, "max_budget": 20})).await;
    app.generate_key(json!({"key_alias": "lisi-dev-key", "user_id": "lisi", "team_id": team_id, "max_budget": 30})).await;
    (app, team_id)
}

#[actix_web::test]
async fn an_internal_user_cannot_reach_admin_pages_or_forms() {
    let (app, team_id) = walkthrough_app().await;
    assert_eq!(
        app.login("zhangsan", "zhangsan-pass-1").await.status,
        StatusCode::SEE_OTHER
    );
    for path in [
        "/teams",
        "/users",
        &format!("/teams/{team_id}"),
        "/users/lisi",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{path}");
        assert!(!resp.body.contains("lisi-dev-key"), "{path}");
    }
    let before = app.entity_counts();
    let posts: [(&str, &[(&str, &str)]); 5] = [
        ("/teams", &[("team_alias", "mine"), ("max_budget", "1")]),
        (
            "/users",
            &[("username", "evil"), ("user_role", "proxy_admin")],
        ),
        ("/users/zhangsan", &[("user_role", "proxy_admin")]),
        ("/users/lisi/delete", &[]),
        (&format!("/teams/{team_id}/delete"), &[]),
    ];
    for (path, fields) in posts {
        let resp = app.post_page(path, fields).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.entity_counts(), before);
    let page = app.get("/virtual-keys").await.body;
    assert!(
        !page.contains("href=\"/teams\""),
        "the nav hides admin pages"
    );
}

#[actix_web::test]
async fn an_internal_user_sees_and_manages_only_their_own_keys() {
    let (app, _) = walkthrough_app().await;
    app.login("zhangsan", "zhangsan-pass-1").await;
    let page = app.get("/virtual-keys").await.body;
    assert!(page.contains("zhangsan-dev-key"));
    assert!(!page.contains("lisi-dev-key"));

    let list = app.get("/key/list").await.json();
    assert_eq!(list["total_count"], 1, "{list}");
    assert_eq!(list["keys"][0]["key_alias"], "zhangsan-dev-key");
    let lisi = app.api_get("/key/list").await.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_alias"] == "lisi-dev-key")
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let info = app.get(&format!("/key/info?key={lisi}")).await;
    assert_eq!(info.status, StatusCode::FORBIDDEN);
    let del = app
        .post_json("/key/delete", &json!({"keys": [lisi]}), None)
        .await;
    assert_eq!(del.status, StatusCode::FORBIDDEN);
    let page_del = app
        .post_page(&format!("/virtual-keys/{lisi}/delete"), &[])
        .await;
    assert_eq!(page_del.status, StatusCode::FORBIDDEN);
    let block = app
        .post_json("/key/block", &json!({"key": lisi}), None)
        .await;
    assert_eq!(block.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("keys"), 2);
}

#[actix_web::test]
async fn an_internal_user_generates_keys_for_themselves_within_both_budgets() {
    let (app, _) = walkthrough_app().await;
    app.login("zhangsan", "zhangsan-pass-1").await;
    // Personal budget 30 with 20 allocated: 10 left; the team has 50 left.
    let over = app
        .generate_key_page("mine", "zhangsan", "研发部门", "11")
        .await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST);
    assert!(
        over.body.contains("用户 zhangsan 剩余个人预算 10.00 USD"),
        "{}",
        over.body
    );
    let ok = app
        .generate_key_page("mine", "zhangsan", "研发部门", "10")
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(secret_from(&ok.body).is_some());

    let other = app
        .post_json(
            "/key/generate",
            &json!({"key_alias": "for-lisi", "user_id": "lisi"}),
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let own = app
        .post_json("/key/generate", &json!({"key_alias": "api-own"}), None)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.json()["user_id"], "zhangsan");
    assert_eq!(own.json()["team_alias"], "研发部门");
    assert_eq!(app.count("keys"), 4);
}

#[actix_web::test]
async fn admin_apis_answer_403_to_an_internal_user_session() {
    let (app, team_id) = walkthrough_app().await;
    app.login("zhangsan", "zhangsan-pass-1").await;
    for path in [
        "/team/list",
        "/user/list",
        &format!("/team/info?team_id={team_id}"),
        "/user/info?user_id=lisi",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(resp.json()["error"]["type"], "permission_error");
    }
    let own = app.get("/user/info?user_id=zhangsan").await;
    assert_eq!(own.status, StatusCode::OK);
    let before = app.entity_counts();
    for (path, body) in [
        ("/team/new", json!({"team_alias": "x"})),
        (
            "/team/update",
            json!({"team_id": team_id, "max_budget": 1000}),
        ),
        ("/user/new", json!({"user_id": "x"})),
        (
            "/user/update",
            json!({"user_id": "zhangsan", "user_role": "proxy_admin"}),
        ),
        ("/user/delete", json!({"user_ids": ["lisi"]})),
        ("/team/delete", json!({"team_ids": [team_id]})),
    ] {
        let resp = app.post_json(path, &body, None).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.entity_counts(), before);
}

#[actix_web::test]
async fn a_read_only_user_changes_nothing() {
    let (app, _) = walkthrough_app().await;
    app.login("viewer", "viewer-pass-1").await;
    let page = app.get("/virtual-keys").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("action=\"/virtual-keys\""),
        "no generate form"
    );
    let before = app.entity_counts();
    let resp = app.post_page("/virtual-keys", &[("key_alias", "v")]).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    let api = app
        .post_json("/key/generate", &json!({"key_alias": "v"}), None)
        .await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    assert!(error_message(&api).contains("read-only"));
    assert_eq!(app.entity_counts(), before);
}

#[actix_web::test]
async fn the_api_needs_the_master_key_or_a_session() {
    let app = spawn_entities_app().await;
    let none = app
        .post_raw(
            "/team/new",
            "application/json",
            r#"{"team_alias":"x"}"#,
            None,
        )
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.json()["error"]["type"], "authentication_error");
    let wrong = app
        .post_raw(
            "/team/new",
            "application/json",
            r#"{"team_alias":"x"}"#,
            Some("sk-wrong"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!wrong.body.contains(MASTER_KEY));
    assert_eq!(
        app.get_bearer("/key/list", "sk-wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.count("teams"), 0);

    // An admin's session works without the master key.
    app.login_as_admin().await;
    let resp = app
        .post_json("/team/new", &json!({"team_alias": "x"}), None)
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
}

#[actix_web::test]
async fn without_a_configured_master_key_no_bearer_is_accepted() {
    let app = spawn_app().await;
    let resp = app.get_bearer("/team/list", "").await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn forged_or_missing_csrf_tokens_are_refused_and_nothing_changes() {
    let app = spawn_entities_app().await;
    app.login_as_admin().await;
    let before = app.entity_counts();
    for token in ["", "forged"] {
        let resp = app
            .post_form(
                "/teams",
                &[
                    ("csrf_token", token),
                    ("team_alias", "x"),
                    ("max_budget", "1"),
                ],
            )
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN);
        let resp = app
            .post_form(
                "/users",
                &[
                    ("csrf_token", token),
                    ("username", "x"),
                    ("user_role", "internal_user"),
                ],
            )
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN);
        let resp = app
            .post_form(
                "/virtual-keys",
                &[("csrf_token", token), ("key_alias", "x")],
            )
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.entity_counts(), before);
}

#[actix_web::test]
async fn pages_render_in_english_too() {
    let (app, team_id) = walkthrough_app().await;
    app.login_as_admin().await;
    app.get("/lang/en?next=/teams").await;
    for (path, words) in [
        ("/teams", "Create team"),
        (&format!("/teams/{team_id}") as &str, "Allocated"),
        ("/users", "Create user"),
        ("/users/zhangsan", "Personal budget"),
        ("/virtual-keys", "Generate key"),
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains(words), "{path}");
    }
    let page = app.generate_key_page("k", "", "研发部门", "60").await;
    assert!(
        page.body
            .contains("team 研发部门 has 50.00 USD of budget left"),
        "{}",
        page.body
    );
}
