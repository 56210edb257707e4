//! Teams: walkthrough steps 2–3 through the pages and the API, the remaining-budget
//! rule, bad input, and deleting.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn walkthrough_steps_2_and_3_through_the_pages() {
    let app = spawn_entities_app().await;
    app.login_as_admin().await;

    // 2. 创建分组 研发部门, 100 美元, 月.
    let teams = app.get("/teams").await;
    assert_eq!(teams.status, StatusCode::OK);
    for label in [
        "创建分组",
        "分组名称",
        "分组预算",
        "预算周期",
        "确认创建",
        "全部模型",
    ] {
        assert!(teams.body.contains(label), "missing {label}");
    }
    let created = app.create_team_page("研发部门", "100", "monthly").await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let teams = app.get("/teams").await.body;
    assert_eq!(
        cell(&teams, "data-team=\"研发部门\"", "remaining"),
        "$100.00"
    );
    assert_eq!(cell(&teams, "data-team=\"研发部门\"", "period"), "月");

    // 创建用户 zhangsan / lisi, 普通用户, 研发部门, 20 / 30 美元.
    let users = app.get("/users").await.body;
    for label in [
        "创建用户",
        "用户名",
        "用户角色",
        "普通用户",
        "所属分组",
        "个人预算",
        "初始密码",
        "确认创建",
    ] {
        assert!(users.contains(label), "missing {label}");
    }
    for (name, budget) in [("zhangsan", "20"), ("lisi", "30")] {
        let resp = app
            .create_user_page(name, "internal_user", "研发部门", budget, "")
            .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    }
    let users = app.get("/users").await.body;
    assert_eq!(cell(&users, "data-user=\"zhangsan\"", "budget"), "$20.00");

    // 3. 生成密钥 for zhangsan (20) and lisi (30), 全部模型, 永久; the key is shown once.
    let keys = app.get("/virtual-keys").await.body;
    for label in [
        "生成密钥",
        "密钥别名",
        "关联用户",
        "关联分组",
        "预算限制",
        "模型选择",
        "全部模型",
        "有效期",
        "永久",
        "生成",
    ] {
        assert!(keys.contains(label), "missing {label}");
    }
    let page = app
        .generate_key_page("zhangsan-dev-key", "zhangsan", "研发部门", "20")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let secret = secret_from(&page.body).expect("the new key is shown");
    assert!(secret.starts_with("sk-") && secret.len() >= 35, "{secret}");
    assert!(page.body.contains("data-copy=\"new-key\""));
    assert!(page.body.contains("只显示这一次"));
    let page = app
        .generate_key_page("lisi-dev-key", "lisi", "研发部门", "30")
        .await;
    assert!(secret_from(&page.body).is_some());

    let list = app.get("/virtual-keys").await.body;
    assert!(!list.contains(&secret), "the secret is never shown again");
    assert!(list.contains(&format!("sk-…{}", &secret[secret.len() - 4..])));

    let teams = app.get("/teams").await.body;
    assert_eq!(
        cell(&teams, "data-team=\"研发部门\"", "remaining"),
        "$50.00"
    );
    assert_eq!(
        cell(&teams, "data-team=\"研发部门\"", "allocated"),
        "$50.00"
    );
}

#[actix_web::test]
async fn walkthrough_steps_2_and_3_through_the_api() {
    let app = spawn_entities_app().await;
    let team = app
        .api(
            "/team/new",
            json!({"team_alias": "研发部门", "max_budget": 100, "budget_duration": "monthly"}),
        )
        .await;
    assert_eq!(team.status, StatusCode::OK, "{}", team.body);
    let team = team.json();
    assert_eq!(team["team_alias"], "研发部门");
    assert_eq!(team["max_budget"], 100.0);
    assert_eq!(team["remaining_budget"], 100.0);
    let team_id = team["team_id"].as_str().unwrap().to_string();

    app.create_user(
        "zhangsan",
        "internal_user",
        Some(&team_id),
        Some(20.0),
        None,
    )
    .await;
    app.create_user("lisi", "internal_user", Some(&team_id), Some(30.0), None)
        .await;
    let gen = app
        .api("/key/generate", json!({"key_alias": "zhangsan-dev-key", "user_id": "zhangsan", "team_id": team_id, "max_budget": 20, "models": [], "duration": null}))
        .await;
    assert_eq!(gen.status, StatusCode::OK, "{}", gen.body);
    let gen = gen.json();
    assert!(gen["key"].as_str().unwrap().starts_with("sk-"));
    assert_eq!(gen["token"].as_str().unwrap().len(), 64);
    assert_eq!(gen["expires"], serde_json::Value::Null);
    assert_eq!(gen["user_id"], "zhangsan");
    assert_eq!(gen["team_id"], team_id.as_str());
    app.generate_key(json!({"key_alias": "lisi-dev-key", "user_id": "lisi", "team_id": team_id, "max_budget": 30}))
        .await;

    let info = app
        .api_get(&format!("/team/info?team_id={team_id}"))
        .await
        .json();
    assert_eq!(info["remaining_budget"], 50.0);
    assert_eq!(info["allocated_budget"], 50.0);
    assert_eq!(info["spend"], 0.0);
    assert_eq!(info["budget_duration"], "monthly");
    assert!(info["budget_reset_at"].as_str().is_some());
    assert_eq!(info["members"], json!(["lisi", "zhangsan"]));
    assert_eq!(info["keys"].as_array().unwrap().len(), 2);
    let list = app.api_get("/team/list").await.json();
    assert_eq!(list[0]["remaining_budget"], 50.0);
}

#[actix_web::test]
async fn a_key_over_the_team_remaining_budget_is_refused_saying_what_is_left() {
    let app = spawn_entities_app().await;
    let team_id = app.create_team("研发部门", 100.0).await;
    app.generate_key(json!({"key_alias": "a", "team_id": team_id, "max_budget": 50}))
        .await;
    let before = app.entity_counts();

    let api = app
        .api(
            "/key/generate",
            json!({"key_alias": "b", "team_id": team_id, "max_budget": 60}),
        )
        .await;
    assert_eq!(api.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.json()["error"]["type"], "invalid_request_error");
    let msg = error_message(&api);
    assert!(
        msg.contains("50.00 USD") && msg.contains("60.00 USD"),
        "{msg}"
    );

    app.login_as_admin().await;
    let page = app.generate_key_page("b", "", "研发部门", "60").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body
            .contains("分组 研发部门 剩余预算 50.00 USD，不足以分配 60.00 USD"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("value=\"b\""),
        "the form keeps what was typed"
    );
    assert_eq!(app.entity_counts(), before);

    // Exactly the remainder fits; raising a key past it through /key/update is refused too.
    let (_, token) = app
        .generate_key(json!({"key_alias": "c", "team_id": team_id, "max_budget": 50}))
        .await;
    let raise = app
        .api("/key/update", json!({"key": token, "max_budget": 51}))
        .await;
    assert_eq!(raise.status, StatusCode::BAD_REQUEST);
    let msg = error_message(&raise);
    assert!(
        msg.contains("50.00 USD") && msg.contains("51.00 USD"),
        "{msg}"
    );
}

#[actix_web::test]
async fn bad_team_input_on_the_page_is_refused_inline_and_nothing_is_created() {
    let app = spawn_entities_app().await;
    app.login_as_admin().await;
    app.create_team_page("研发部门", "100", "monthly").await;
    let before = app.entity_counts();
    let cases: [(&[(&str, &str)], &str); 7] = [
        (
            &[("team_alias", "  "), ("max_budget", "10")],
            "分组名称不能为空",
        ),
        (
            &[("team_alias", "研发部门"), ("max_budget", "10")],
            "已存在",
        ),
        (&[("team_alias", "x"), ("max_budget", "-5")], "不能为负数"),
        (
            &[("team_alias", "x"), ("max_budget", "abc")],
            "不是有效的数字",
        ),
        (
            &[("team_alias", "x"), ("max_budget", "1.00001")],
            "4 位小数",
        ),
        (
            &[("team_alias", "x"), ("budget_duration", "fortnight")],
            "预算周期",
        ),
        (
            &[
                ("team_alias", "x"),
                ("models_mode", "list"),
                ("models", "gpt-5"),
            ],
            "未知模型",
        ),
    ];
    for (fields, message) in cases {
        let resp = app.post_page("/teams", fields).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(resp.body.contains(message), "{fields:?}: {}", resp.body);
        assert!(resp
            .body
            .contains("<details class=\"panel card\" id=\"create\" open"));
    }
    assert_eq!(app.entity_counts(), before);
}

#[actix_web::test]
async fn bad_team_input_through_the_api_is_a_400_and_nothing_is_created() {
    let app = spawn_entities_app().await;
    app.create_team("研发部门", 100.0).await;
    let before = app.entity_counts();
    let cases = [
        (json!({"team_alias": ""}), "must not be empty"),
        (json!({"team_alias": "研发部门"}), "already exists"),
        (json!({"team_alias": "x", "max_budget": -1}), "negative"),
        (
            json!({"team_alias": "x", "max_budget": "ten"}),
            "not a number",
        ),
        (
            json!({"team_alias": "x", "max_budget": 0.00001}),
            "4 decimals",
        ),
        (
            json!({"team_alias": "x", "max_budget": true}),
            "number of USD",
        ),
        (
            json!({"team_alias": "x", "budget_duration": "fortnight"}),
            "budget_duration",
        ),
        (
            json!({"team_alias": "x", "models": ["gpt-5"]}),
            "unknown model `gpt-5`",
        ),
    ];
    for (body, message) in cases {
        let resp = app.api("/team/new", body.clone()).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
        assert!(
            error_message(&resp).contains(message),
            "{body}: {}",
            resp.body
        );
    }
    let unknown = app.api_get("/team/info?team_id=team-nope").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.entity_counts(), before);
}

#[actix_web::test]
async fn a_team_with_keys_cannot_be_deleted_until_its_keys_are_gone() {
    let app = spawn_entities_app().await;
    let team_id = app.create_team("研发部门", 100.0).await;
    let (_, token) = app
        .generate_key(json!({"key_alias": "k", "team_id": team_id}))
        .await;

    let refused = app
        .api("/team/delete", json!({"team_ids": [team_id]}))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        error_message(&refused).contains("still has 1 key"),
        "{}",
        refused.body
    );
    app.login_as_admin().await;
    let page = app
        .post_page(&format!("/teams/{team_id}/delete"), &[])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("还有 1 个密钥"), "{}", page.body);
    assert_eq!(app.count("teams"), 1);

    app.api("/key/delete", json!({"keys": [token]})).await;
    let page = app
        .post_page(&format!("/teams/{team_id}/delete"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("teams"), 0);
}

#[actix_web::test]
async fn teams_are_edited_on_their_page_and_through_the_api() {
    let app = spawn_entities_app().await;
    let team_id = app.create_team("研发部门", 100.0).await;
    app.generate_key(json!({"key_alias": "k", "team_id": team_id, "max_budget": 40}))
        .await;
    app.login_as_admin().await;
    let page = app.get(&format!("/teams/{team_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("k") && page.body.contains("$40.00"));

    let lower = app
        .api(
            "/team/update",
            json!({"team_id": team_id, "max_budget": 30}),
        )
        .await;
    assert_eq!(lower.status, StatusCode::BAD_REQUEST);
    assert!(
        error_message(&lower).contains("40.00 USD"),
        "{}",
        lower.body
    );

    let fields = [
        ("team_alias", "研发中心"),
        ("max_budget", "200"),
        ("budget_duration", "weekly"),
        ("models_mode", "list"),
        ("models", "gpt-4o"),
        ("models", "gemini-pro"),
    ];
    let resp = app.post_page(&format!("/teams/{team_id}"), &fields).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    let info = app
        .api_get(&format!("/team/info?team_id={team_id}"))
        .await
        .json();
    assert_eq!(info["team_alias"], "研发中心");
    assert_eq!(info["budget_duration"], "weekly");
    assert_eq!(info["models"], json!(["gpt-4o", "gemini-pro"]));
    assert_eq!(info["remaining_budget"], 160.0);
}
