//! /logs, /logs/{id} and /spend/logs: newest-first keyset pages without gaps or
//! duplicates, filters, detail contents, role scoping, tampered cursors and bad input.

use std::collections::HashSet;

use awc::http::StatusCode;

use crate::helpers::*;
use crate::seed::*;

const BASE: i64 = 1_736_000_000_000; // 2025-01-04T14:13:20Z

/// 120 requests, several sharing a start time (ties are broken by id).
fn seed_many(s: &mut Seeder, cast: &Cast) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..120i64 {
        let key = match i % 3 {
            0 => &cast.zs_key,
            1 => &cast.ls_key,
            _ => &cast.loose_key,
        };
        let model = if i % 2 == 0 {
            "gpt-4o"
        } else {
            "claude-3-5-sonnet"
        };
        let mut r = SeedRequest::new(model, BASE + (i / 4) * 60_000).by(key);
        r.request_id = format!("req-{i:04}");
        if i % 10 == 9 {
            r = r.failed(502, "upstream unreachable");
        }
        s.request(&r);
        ids.push(r.request_id);
    }
    ids.reverse(); // newest first: later start, then higher id
    ids
}

/// Request ids linked from a /logs page, in order.
fn linked_ids(body: &str) -> Vec<String> {
    body.split("href=\"/logs/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

fn next_link(body: &str) -> Option<String> {
    let at = body.find("rel=\"next\"")?;
    let start = body[..at].rfind("href=\"")? + 6;
    Some(
        body[start..]
            .split('"')
            .next()?
            .replace("&amp;", "&")
            .replace("&#x3d;", "="),
    )
}

#[actix_web::test]
async fn log_pages_follow_each_other_without_gaps_or_duplicates() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    let all = seed_many(&mut s, &cast);
    app.login_as_admin().await;
    let mut seen = Vec::new();
    let mut path = "/logs".to_string();
    for _ in 0..10 {
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        seen.extend(linked_ids(&page.body));
        match next_link(&page.body) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(seen, all);
    app.set_cookie("tollgate_lang", "en");
    let en = app.get("/logs").await;
    for label in ["Request Logs", "Next page", "Request ID", "Latency"] {
        assert!(en.body.contains(label), "missing {label}");
    }
    let detail = app.get("/logs/req-0000").await;
    assert!(detail.body.contains("Completion tokens"));
    let mut api_seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let resp = app
            .get(&format!("/spend/logs?limit=7&cursor={cursor}"))
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
        api_seen.extend(
            resp.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["request_id"].as_str().unwrap().to_string()),
        );
        match resp.header("x-next-cursor") {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(api_seen, all);
    assert_eq!(api_seen.iter().collect::<HashSet<_>>().len(), 120);
}

#[actix_web::test]
async fn log_filters_narrow_the_list_and_injection_is_just_a_value() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    seed_many(&mut s, &cast);
    app.login_as_admin().await;
    let count = |sql: String| -> usize {
        s.conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize
    };
    let cases = [
        (
            format!("key_id={}", cast.ls_key.id),
            format!("key_id = {}", cast.ls_key.id),
        ),
        (
            format!("user_id={}", cast.zhangsan),
            format!("user_id = {}", cast.zhangsan),
        ),
        (
            format!("team_id={}", cast.team),
            format!("team_id = {}", cast.team),
        ),
        (
            "model=claude-3-5-sonnet&status=failure".into(),
            "model = 'claude-3-5-sonnet' AND success = 0".into(),
        ),
        (
            "status=success&start_date=2025-01-04&end_date=2025-01-04".into(),
            "success = 1 AND start_ms < 1736035200000".into(),
        ),
        ("model=gpt-4o%27%20OR%20%271%27%3D%271".into(), "0".into()),
    ];
    for (q, cond) in cases {
        let want = count(format!("SELECT COUNT(*) FROM request_logs WHERE {cond}")).min(50);
        let page = app.get(&format!("/logs?{q}")).await;
        assert_eq!(page.status, StatusCode::OK, "{q}");
        assert_eq!(linked_ids(&page.body).len(), want, "{q}");
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM request_logs".into()),
        120,
        "nothing was dropped"
    );
}

#[actix_web::test]
async fn the_detail_page_shows_everything_about_one_request() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    let mut ok = SeedRequest::new("claude-3-5-sonnet", BASE)
        .by(&cast.zs_key)
        .usage(1234, 56, 1_234_567);
    ok.provider = "anthropic".into();
    ok.latency_ms = 1500;
    ok.bodies = Some((
        "{\"messages\":[{\"content\":\"什么是人工智能？<script>\"}]}".into(),
        "{\"reply\":\"AI\"}".into(),
    ));
    s.request(&ok);
    let bad = SeedRequest::new("gpt-4o", BASE + 1)
        .by(&cast.ls_key)
        .failed(400, "budget exceeded: key");
    s.request(&bad);
    app.login_as_admin().await;
    let page = app.get(&format!("/logs/{}", ok.request_id)).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        ok.request_id.as_str(),
        "claude-3-5-sonnet → anthropic",
        "zhangsan-key",
        "zhangsan",
        "研发",
        "成功",
        "1,234",
        "56",
        "1,290",
        "$0.001235",
        "1.500 s",
        "2025-01-04 14:13:20.000",
        "什么是人工智能？&#60;script&#62;",
        "{&#34;reply&#34;:&#34;AI&#34;}",
    ] {
        assert!(page.body.contains(text), "missing {text}: {}", page.body);
    }
    assert!(!page.body.contains("<script>\""));
    let failed = app.get(&format!("/logs/{}", bad.request_id)).await;
    for text in [
        "失败",
        "400",
        "budget exceeded: key",
        "lisi-key",
        "未保存请求/响应内容",
    ] {
        assert!(failed.body.contains(text), "missing {text}");
    }
    assert_eq!(
        app.get("/logs/req-nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn an_internal_user_sees_only_their_own_requests() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    seed_many(&mut s, &cast);
    app.login("zhangsan", USER_PASSWORD).await;
    let page = app.get(&format!("/logs?user_id={}", cast.lisi)).await;
    assert_eq!(page.status, StatusCode::OK);
    let ids = linked_ids(&page.body);
    assert_eq!(ids.len(), 40);
    for id in &ids {
        let n: i64 = id.trim_start_matches("req-").parse().unwrap();
        assert_eq!(n % 3, 0, "{id} is not zhangsan's");
    }
    assert!(!page.body.contains("lisi-key"));
    assert_eq!(
        app.get("/logs/req-0001").await.status,
        StatusCode::NOT_FOUND,
        "lisi's request"
    );
    assert_eq!(app.get("/logs/req-0003").await.status, StatusCode::OK);
    assert_eq!(app.get("/spend/logs").await.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn tampered_cursors_and_bad_filters_are_a_clear_400() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    seed_many(&mut s, &cast);
    app.login_as_admin().await;
    let first = app.get("/logs").await;
    let next = next_link(&first.body).unwrap();
    let cursor = next.split("cursor=").nth(1).unwrap().to_string();
    let (pos, tag) = cursor.rsplit_once('.').unwrap();
    let forged = format!("{}9.{tag}", pos);
    for bad in [forged.as_str(), "abc", "1.2.3", "1736000000000.5"] {
        let page = app.get(&format!("/logs?cursor={bad}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            page.body.contains("cursor is invalid or was altered"),
            "{bad}"
        );
        let api = app.get(&format!("/spend/logs?cursor={bad}")).await;
        assert_eq!(api.status, StatusCode::BAD_REQUEST);
        assert_eq!(api.json()["error"]["param"], "cursor");
    }
    for (q, message) in [
        ("key_id=1%20OR%201%3D1", "key_id must be a number"),
        ("status=all", "status must be success or failure"),
        ("start_date=yesterday", "start_date must be a date"),
        (
            "start_date=2025-02-01&end_date=2025-01-01",
            "end_date is before start_date",
        ),
    ] {
        let page = app.get(&format!("/logs?{q}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(page.body.contains(message), "{q}");
    }
    for q in [
        "limit=0",
        "limit=5000",
        "limit=ten",
        "start_date=2025-13-01",
    ] {
        assert_eq!(
            app.get(&format!("/spend/logs?{q}")).await.status,
            StatusCode::BAD_REQUEST,
            "{q}"
        );
    }
}

#[actix_web::test]
async fn spend_logs_are_litellm_shaped_and_need_an_admin_or_the_master_key() {
    let app = spawn_app_with(|c| {
        c.server.master_key = Some(tollgate::config::Secret::literal("sk-master-test"))
    })
    .await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    let r = SeedRequest::new("gpt-4o", BASE)
        .by(&cast.zs_key)
        .usage(10, 20, 1_500_000);
    s.request(&r);
    s.request(&SeedRequest::new("gpt-4o", BASE + 86_400_000 * 3).failed(401, "unknown key"));
    assert_eq!(
        app.get("/spend/logs").await.status,
        StatusCode::UNAUTHORIZED
    );
    let resp = app
        .get_bearer(
            "/spend/logs?start_date=2025-01-04&end_date=2025-01-04",
            "sk-master-test",
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    let rows = resp.json();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let row = &rows[0];
    assert_eq!(row["request_id"], r.request_id.as_str());
    assert_eq!(row["startTime"], "2025-01-04T14:13:20.000Z");
    assert_eq!(row["endTime"], "2025-01-04T14:13:20.850Z");
    assert_eq!(row["model"], "gpt-4o");
    assert_eq!(row["api_key"], cast.zs_key.token.as_str());
    assert_eq!(row["user"], "zhangsan");
    assert_eq!(row["team_id"], "team-研发");
    assert_eq!(row["spend"], 0.0015);
    assert_eq!(
        (
            row["prompt_tokens"].as_i64(),
            row["completion_tokens"].as_i64(),
            row["total_tokens"].as_i64()
        ),
        (Some(10), Some(20), Some(30))
    );
    assert_eq!(row["status"], "success");
    assert!(resp.header("x-next-cursor").is_none());
    let all = app.get_bearer("/spend/logs", "sk-master-test").await.json();
    assert_eq!(all[0]["status"], "failure");
    assert_eq!(all[0]["api_key"], "");
}
