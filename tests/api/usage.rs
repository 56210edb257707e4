//! /usage: totals, per-model rows, tops and chart equal the log rows they summarise, for
//! every view; role scoping; filters; bad input is a clear 400.

use awc::http::StatusCode;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde_json::Value;

use crate::helpers::*;
use crate::seed::*;

fn midnight_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis()
}

/// Seeds today's walkthrough calls plus traffic earlier this week/month and outside it.
fn seed_month(s: &mut Seeder, cast: &Cast) {
    let now = Utc::now().timestamp_millis();
    let today = Utc::now().date_naive();
    let recent = (now - 60_000).max(midnight_ms(today));
    let models = [
        ("gpt-4o", "openai"),
        ("claude-3-5-sonnet", "anthropic"),
        ("gemini-pro", "gemini"),
        ("mistral-large", "mistral"),
    ];
    for (i, (model, provider)) in models.iter().enumerate() {
        let mut r = SeedRequest::new(model, recent - i as i64)
            .by(&cast.zs_key)
            .usage(12 + i as i64, 30, 1_000_000 + i as i64 * 7_000);
        r.provider = provider.to_string();
        s.request(&r);
    }
    s.request(
        &SeedRequest::new("gpt-4o", recent)
            .by(&cast.zs_key)
            .failed(429, "rate limited"),
    );
    s.request(&SeedRequest::new("gpt-4o", recent).failed(401, "unknown key"));
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let first = today.with_day(1).unwrap();
    s.request(
        &SeedRequest::new("gpt-4o", midnight_ms(monday) + 3_600_000)
            .by(&cast.ls_key)
            .usage(100, 200, 5_000_000),
    );
    s.request(
        &SeedRequest::new("claude-3-5-sonnet", midnight_ms(first) + 7_200_000)
            .by(&cast.loose_key)
            .usage(7, 9, 333),
    );
    s.request(
        &SeedRequest::new("gpt-4o", midnight_ms(first) - 3_600_000)
            .by(&cast.zs_key)
            .usage(1, 1, 999_999),
    );
}

fn assert_totals(summary: &Value, sums: [i64; 6], what: &str) {
    let t = &summary["totals"];
    let got = [
        "requests",
        "successes",
        "failures",
        "prompt_tokens",
        "completion_tokens",
        "spend_nanos",
    ]
    .map(|k| t[k].as_i64().unwrap());
    assert_eq!(got, sums, "{what}: {summary}");
    assert_eq!(
        t["total_tokens"].as_i64().unwrap(),
        sums[3] + sums[4],
        "{what}"
    );
}

async fn summary(app: &TestApp, q: &str) -> Value {
    let resp = app.get(&format!("/usage/summary?{q}")).await;
    assert_eq!(resp.status, StatusCode::OK, "{q}: {}", resp.body);
    resp.json()
}

#[actix_web::test]
async fn usage_totals_equal_the_sum_of_the_log_rows_for_every_view() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    seed_month(&mut s, &cast);
    app.login_as_admin().await;
    let today = Utc::now().date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let first = today.with_day(1).unwrap();
    let tomorrow = midnight_ms(today + Duration::days(1));
    let custom_start = first - Duration::days(3);
    let views = [
        ("view=live".to_string(), midnight_ms(today), tomorrow),
        ("view=today".to_string(), midnight_ms(today), tomorrow),
        (
            "view=week".to_string(),
            midnight_ms(monday),
            midnight_ms(monday + Duration::days(7)),
        ),
        (
            "view=month".to_string(),
            midnight_ms(first),
            midnight_ms((first + Duration::days(32)).with_day(1).unwrap()),
        ),
        (
            format!("view=custom&start_date={custom_start}&end_date={today}"),
            midnight_ms(custom_start),
            tomorrow,
        ),
    ];
    for (q, from, to) in views {
        let got = summary(&app, &q).await;
        assert_totals(&got, s.log_sums(from, to, None), &q);
        let mut stmt = s.conn.prepare("SELECT model, COUNT(*), SUM(cost), SUM(prompt_tokens + completion_tokens) FROM request_logs WHERE start_ms >= ?1 AND start_ms < ?2 GROUP BY model").unwrap();
        let expected: Vec<(String, i64, i64, i64)> = stmt
            .query_map([from, to], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let by_model = got["by_model"].as_array().unwrap();
        assert_eq!(by_model.len(), expected.len(), "{q}");
        for (model, requests, spend, tokens) in expected {
            let row = by_model
                .iter()
                .find(|m| m["model"] == model.as_str())
                .unwrap();
            assert_eq!(row["usage"]["requests"], requests, "{q} {model}");
            assert_eq!(row["usage"]["spend_nanos"], spend, "{q} {model}");
            assert_eq!(row["usage"]["total_tokens"], tokens, "{q} {model}");
        }
    }
    let today_sums = s.log_sums(midnight_ms(today), tomorrow, None);
    assert!(
        today_sums[0] >= 6,
        "four calls, one failure, one refusal today"
    );
}

#[actix_web::test]
async fn the_usage_page_shows_the_walkthrough_numbers_in_chinese_and_english() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    seed_month(&mut s, &cast);
    app.login_as_admin().await;
    let page = app.get("/usage?view=today").await;
    assert_eq!(page.status, StatusCode::OK);
    for label in [
        "实时视图",
        "今日视图",
        "本周",
        "本月",
        "总消费金额",
        "总请求次数",
        "成功请求数",
        "失败请求数",
        "Token 用量统计",
        "按模型分类的消费明细",
        "导出",
        "确认导出",
        "日期范围",
        "上周",
        "上月",
        "daily_with_keys",
        "daily_with_models",
        "CSV",
        "JSON",
        "<svg",
        "gpt-4o",
        "mistral-large",
        "研发",
        "zhangsan-key",
    ] {
        assert!(page.body.contains(label), "missing {label}");
    }
    let today = Utc::now().date_naive();
    let sums = s.log_sums(
        midnight_ms(today),
        midnight_ms(today + Duration::days(1)),
        None,
    );
    let spend = tollgate::web::format::usd(tollgate::money::Nanos(sums[5]));
    assert!(
        spend.starts_with("$0.00"),
        "four calls cost fractions of a cent: {spend}"
    );
    assert!(
        page.body.contains(&format!("data-live=\"spend\">{spend}<")),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains(&format!("data-live=\"requests\">{}<", sums[0])));
    assert!(page
        .body
        .contains(&format!("data-live=\"failures\">{}<", sums[2])));
    app.set_cookie("tollgate_lang", "en");
    let en = app.get("/usage?view=live").await;
    for label in [
        "Total spend",
        "Spend by model",
        "Daily spend",
        "Top teams",
        "data-live-url=\"/usage/summary?view=live\"",
    ] {
        assert!(en.body.contains(label), "missing {label}");
    }
}

#[actix_web::test]
async fn an_internal_user_sees_only_their_own_usage_and_no_export() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    seed_month(&mut s, &cast);
    let resp = app.login("zhangsan", USER_PASSWORD).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap();
    let q = format!(
        "view=custom&start_date={first}&end_date={today}&user_id={}",
        cast.lisi
    );
    let got = summary(&app, &q).await;
    let own = s.log_sums(
        midnight_ms(first),
        midnight_ms(today + Duration::days(1)),
        Some(cast.zhangsan),
    );
    assert_totals(&got, own, "zhangsan");
    let page = app.get("/usage").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("export-dialog"));
    assert!(!page.body.contains("lisi-key"));
    let export = app.get("/usage/export?start_date=2025-01-01&end_date=2025-01-31&entity=team&scope=daily&format=csv").await;
    assert_eq!(export.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn admins_filter_usage_by_team_user_key_and_model() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    seed_month(&mut s, &cast);
    app.login_as_admin().await;
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap();
    let range = format!("view=custom&start_date={first}&end_date={today}");
    let (from, to) = (midnight_ms(first), midnight_ms(today + Duration::days(1)));
    let count = |sql: &str| -> i64 { s.conn.query_row(sql, [from, to], |r| r.get(0)).unwrap() };
    let cases = [
        (format!("team_id={}", cast.team), format!("SELECT COUNT(*) FROM request_logs WHERE start_ms >= ?1 AND start_ms < ?2 AND team_id = {}", cast.team)),
        (format!("user_id={}", cast.lisi), format!("SELECT COUNT(*) FROM request_logs WHERE start_ms >= ?1 AND start_ms < ?2 AND user_id = {}", cast.lisi)),
        (format!("key_id={}", cast.loose_key.id), format!("SELECT COUNT(*) FROM request_logs WHERE start_ms >= ?1 AND start_ms < ?2 AND key_id = {}", cast.loose_key.id)),
        ("model=gpt-4o".to_string(), "SELECT COUNT(*) FROM request_logs WHERE start_ms >= ?1 AND start_ms < ?2 AND model = 'gpt-4o'".to_string()),
        ("model=x%27%20OR%201%3D1%20--".to_string(), "SELECT 0 WHERE ?1 < ?2".to_string()),
    ];
    for (filter, sql) in cases {
        let got = summary(&app, &format!("{range}&{filter}")).await;
        assert_eq!(
            got["totals"]["requests"].as_i64().unwrap(),
            count(&sql),
            "{filter}"
        );
    }
}

#[actix_web::test]
async fn bad_usage_parameters_are_a_clear_400_never_a_500() {
    let app = spawn_app().await;
    app.login_as_admin().await;
    let cases = [
        ("view=yearly", "view must be one of"),
        (
            "view=custom&start_date=2025-02-01&end_date=2025-01-01",
            "before start_date",
        ),
        (
            "view=custom&start_date=2025-13-01&end_date=2025-12-31",
            "start_date must be a date",
        ),
        (
            "view=custom&start_date=2020-01-01&end_date=2025-01-01",
            "at most 400",
        ),
        ("view=custom", "start_date must be a date"),
        ("key_id=1%20OR%201%3D1", "key_id must be a number"),
    ];
    for (q, message) in cases {
        for path in ["/usage", "/usage/summary"] {
            let resp = app.get(&format!("{path}?{q}")).await;
            assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{path}?{q}");
            assert!(resp.body.contains(message), "{path}?{q}: {}", resp.body);
        }
    }
}
