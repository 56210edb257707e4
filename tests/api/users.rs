//! Users: create with a first password, disable/enable, delete with their keys, the
//! last admin, and bad input through pages and API.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn a_user_created_with_a_password_can_log_in_until_disabled() {
    let app = spawn_entities_app().await;
    app.login_as_admin().await;
    let resp = app
        .create_user_page("zhangsan", "internal_user", "", "20", "zhangsan-pass-1")
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    let users = app.get("/users").await.body;
    assert!(users.contains("data-user=\"zhangsan\"") && users.contains("普通用户"));

    let disable = app.post_page("/users/zhangsan/disable", &[]).await;
    assert_eq!(disable.status, StatusCode::SEE_OTHER);
    assert!(app.get("/users").await.body.contains("已停用"));
    app.clear_cookies();
    assert_eq!(
        app.login("zhangsan", "zhangsan-pass-1").await.status,
        StatusCode::UNAUTHORIZED
    );

    app.login_as_admin().await;
    app.post_page("/users/zhangsan/enable", &[]).await;
    app.clear_cookies();
    assert_eq!(
        app.login("zhangsan", "zhangsan-pass-1").await.status,
        StatusCode::SEE_OTHER
    );
    let info = app.api_get("/user/info?user_id=zhangsan").await.json();
    assert_eq!(info["user_role"], "internal_user");
    assert_eq!(info["max_budget"], 20.0);
    assert_eq!(info["disabled"], false);
}

#[actix_web::test]
async fn deleting_a_user_deletes_their_keys_and_is_audited() {
    let app = spawn_entities_app().await;
    app.create_user("zhangsan", "internal_user", None, None, None)
        .await;
    app.generate_key(json!({"key_alias": "z1", "user_id": "zhangsan"}))
        .await;
    app.generate_key(json!({"key_alias": "z2", "user_id": "zhangsan"}))
        .await;
    assert_eq!(app.count("keys"), 2);
    let resp = app
        .api("/user/delete", json!({"user_ids": ["zhangsan"]}))
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    assert_eq!(app.count("keys"), 0);
    assert_eq!(app.count("users"), 1);
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let (actor, target): (String, String) = conn
        .query_row(
            "SELECT actor, target FROM audit_log WHERE action = 'user.delete'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (actor.as_str(), target.as_str()),
        ("master_key", "zhangsan")
    );
}

#[actix_web::test]
async fn the_last_admin_cannot_be_deleted_disabled_or_demoted() {
    let app = spawn_entities_app().await;
    let api = app
        .api("/user/delete", json!({"user_ids": ["admin"]}))
        .await;
    assert_eq!(api.status, StatusCode::BAD_REQUEST);
    assert!(
        error_message(&api).contains("no enabled admin"),
        "{}",
        api.body
    );
    let demote = app
        .api(
            "/user/update",
            json!({"user_id": "admin", "user_role": "internal_user"}),
        )
        .await;
    assert_eq!(demote.status, StatusCode::BAD_REQUEST);

    app.login_as_admin().await;
    let page = app.post_page("/users/admin/delete", &[]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("最后一个管理员"), "{}", page.body);
    let page = app.post_page("/users/admin/disable", &[]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("users"), 1);

    // With a second admin, the first may go.
    app.create_user("boss", "proxy_admin", None, None, Some("boss-password-1"))
        .await;
    let ok = app
        .api("/user/delete", json!({"user_ids": ["admin"]}))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[actix_web::test]
async fn bad_user_input_on_the_page_is_refused_inline_and_nothing_is_created() {
    let app = spawn_entities_app().await;
    app.login_as_admin().await;
    let before = app.entity_counts();
    let cases: [(&[(&str, &str)], &str); 7] = [
        (
            &[("username", ""), ("user_role", "internal_user")],
            "用户名不能为空",
        ),
        (
            &[("username", "admin"), ("user_role", "internal_user")],
            "已存在",
        ),
        (
            &[("username", "a b"), ("user_role", "internal_user")],
            "只能包含",
        ),
        (&[("username", "x"), ("user_role", "superuser")], "用户角色"),
        (
            &[
                ("username", "x"),
                ("user_role", "internal_user"),
                ("team_id", "team-nope"),
            ],
            "不存在",
        ),
        (
            &[
                ("username", "x"),
                ("user_role", "internal_user"),
                ("max_budget", "-20"),
            ],
            "不能为负数",
        ),
        (
            &[
                ("username", "x"),
                ("user_role", "internal_user"),
                ("password", "short"),
            ],
            "8",
        ),
    ];
    for (fields, message) in cases {
        let resp = app.post_page("/users", fields).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(resp.body.contains(message), "{fields:?}: {}", resp.body);
    }
    assert_eq!(app.entity_counts(), before);
}

#[actix_web::test]
async fn bad_user_input_through_the_api_is_refused_and_nothing_is_created() {
    let app = spawn_entities_app().await;
    let before = app.entity_counts();
    let cases = [
        (json!({"user_id": ""}), 400, "must not be empty"),
        (json!({"user_id": "admin"}), 400, "already exists"),
        (
            json!({"user_id": "x", "user_role": "god"}),
            400,
            "user_role",
        ),
        (
            json!({"user_id": "x", "team_id": "team-nope"}),
            404,
            "no team",
        ),
        (
            json!({"user_id": "x", "max_budget": "abc"}),
            400,
            "not a number",
        ),
        (
            json!({"user_id": "x", "max_budget": 1.123456}),
            400,
            "4 decimals",
        ),
        (
            json!({"user_id": "x", "password": "short"}),
            400,
            "at least 8",
        ),
    ];
    for (body, status, message) in cases {
        let resp = app.api("/user/new", body.clone()).await;
        assert_eq!(resp.status.as_u16(), status, "{body}: {}", resp.body);
        assert!(
            error_message(&resp).contains(message),
            "{body}: {}",
            resp.body
        );
    }
    let unknown = app.api_get("/user/info?user_id=nobody").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.entity_counts(), before);
}

#[actix_web::test]
async fn users_are_edited_on_their_page() {
    let app = spawn_entities_app().await;
    let team_id = app.create_team("研发部门", 100.0).await;
    app.create_user("zhangsan", "internal_user", None, Some(20.0), None)
        .await;
    app.login_as_admin().await;
    let page = app.get("/users/zhangsan").await;
    assert_eq!(page.status, StatusCode::OK);
    let fields = [
        ("user_role", "internal_user_viewer"),
        ("team_id", team_id.as_str()),
        ("max_budget", "25.5"),
        ("budget_duration", "weekly"),
    ];
    let resp = app.post_page("/users/zhangsan", &fields).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    let info = app.api_get("/user/info?user_id=zhangsan").await.json();
    assert_eq!(info["user_role"], "internal_user_viewer");
    assert_eq!(info["max_budget"], 25.5);
    assert_eq!(info["teams"][0]["team_alias"], "研发部门");
    let list = app.api_get("/user/list").await.json();
    assert_eq!(list["total"], 2);
}
