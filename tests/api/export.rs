//! Bill export: every entity × scope × format has exactly the SPEC §7 columns with values
//! equal to the log rows (an independent SQL oracle), for a week and a month; CSV is
//! Excel-safe; `tollgate export` writes the same bytes; bad input is a clear 400.

use std::collections::BTreeMap;

use awc::http::StatusCode;
use rusqlite::params;
use tollgate::money::Nanos;

use crate::helpers::*;
use crate::seed::*;

const ENTITIES: [&str; 3] = ["team", "user", "key"];
const SCOPES: [&str; 3] = ["daily", "daily_with_keys", "daily_with_models"];
const WEEK: (&str, &str) = ("2025-01-06", "2025-01-12");
const MONTH: (&str, &str) = ("2025-01-01", "2025-01-31");

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

/// January 2025 traffic, with rows just outside the month on both sides.
fn seed_january(s: &mut Seeder, cast: &Cast) {
    let rows = [
        ("2024-12-31T23:59:00Z", &cast.zs_key, "gpt-4o", true),
        ("2025-01-01T00:00:00Z", &cast.zs_key, "gpt-4o", true),
        (
            "2025-01-06T08:00:00Z",
            &cast.zs_key,
            "claude-3-5-sonnet",
            true,
        ),
        ("2025-01-06T09:30:00Z", &cast.ls_key, "gpt-4o", true),
        ("2025-01-06T09:45:00Z", &cast.ls_key, "gpt-4o", false),
        ("2025-01-08T23:59:59Z", &cast.loose_key, "gemini-pro", true),
        ("2025-01-12T12:00:00Z", &cast.zs_key, "mistral-large", true),
        ("2025-01-20T10:00:00Z", &cast.ls_key, "mistral-large", true),
        ("2025-01-31T23:00:00Z", &cast.loose_key, "gpt-4o", true),
        ("2025-02-01T00:00:00Z", &cast.zs_key, "gpt-4o", true),
    ];
    for (i, (at, key, model, ok)) in rows.iter().enumerate() {
        let i = i as i64;
        let r =
            SeedRequest::new(model, ms(at))
                .by(key)
                .usage(10 + i, 20 + 2 * i, 1_234_567 + 1000 * i);
        s.request(&if *ok {
            r
        } else {
            r.failed(500, "upstream error")
        });
    }
    s.request(&SeedRequest::new("gpt-4o", ms("2025-01-06T10:00:00Z")).failed(401, "unknown key"));
}

fn defuse(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text
    }
}

/// The expected rows, computed straight from request_logs (not the rollups).
fn oracle(s: &Seeder, range: (&str, &str), entity: &str, scope: &str) -> Vec<Vec<String>> {
    let col = match entity {
        "team" => "team_id",
        "user" => "user_id",
        _ => "key_id",
    };
    let sub = match scope {
        "daily" => "''",
        "daily_with_keys" => "key_id",
        _ => "model",
    };
    let sql = format!(
        "SELECT date(start_ms / 1000, 'unixepoch') AS d, {col}, {sub}, SUM(cost), COUNT(*), SUM(success), \
         SUM(1 - success), SUM(prompt_tokens + completion_tokens), SUM(prompt_tokens), SUM(completion_tokens) \
         FROM request_logs WHERE d BETWEEN ?1 AND ?2 GROUP BY d, {col}, {sub}"
    );
    let mut stmt = s.conn.prepare(&sql).unwrap();
    let rows = stmt
        .query_map(params![range.0, range.1], |r| {
            let mut v: Vec<rusqlite::types::Value> = Vec::new();
            for i in 0..10 {
                v.push(r.get(i)?);
            }
            Ok(v)
        })
        .unwrap();
    let text = |v: &rusqlite::types::Value| match v {
        rusqlite::types::Value::Integer(n) => n.to_string(),
        rusqlite::types::Value::Text(t) => t.clone(),
        other => format!("{other:?}"),
    };
    let int = |v: &rusqlite::types::Value| text(v).parse::<i64>().unwrap_or(0);
    let mut out = Vec::new();
    for row in rows {
        let row = row.unwrap();
        let mut line = vec![text(&row[0])];
        line.extend(name_of(s, entity, int(&row[1])));
        match scope {
            "daily" => {}
            "daily_with_keys" => line.extend(name_of(s, "key", int(&row[2]))),
            _ => line.push(text(&row[2])),
        }
        line.push(Nanos(int(&row[3])).format_usd(6));
        line.extend(row[4..].iter().map(text));
        out.push(line);
    }
    out.sort();
    out
}

fn name_of(s: &Seeder, entity: &str, id: i64) -> [String; 2] {
    if id == 0 {
        return ["(none)".into(), String::new()];
    }
    let sql = match entity {
        "team" => "SELECT alias, team_id FROM teams WHERE id = ?1",
        "user" => "SELECT username, username FROM users WHERE id = ?1",
        _ => "SELECT alias, token FROM keys WHERE id = ?1",
    };
    s.conn
        .query_row(sql, [id], |r| Ok([r.get(0)?, r.get(1)?]))
        .unwrap()
}

fn expected_columns(entity: &str, scope: &str) -> Vec<String> {
    let name = match entity {
        "team" => "Team",
        "user" => "User",
        _ => "Key",
    };
    let mut cols = vec!["Date", name, "Entity ID"];
    match scope {
        "daily_with_keys" => cols.extend(["Key Alias", "Key ID"]),
        "daily_with_models" => cols.push("Model"),
        _ => {}
    }
    cols.extend([
        "Spend ($)",
        "Requests",
        "Successful Requests",
        "Failed Requests",
        "Total Tokens",
        "Prompt Tokens",
        "Completion Tokens",
    ]);
    cols.into_iter().map(String::from).collect()
}

fn parse_csv(body: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let body = body.strip_prefix('\u{feff}').expect("UTF-8 BOM");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes());
    let mut records = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect::<Vec<_>>());
    let header = records.next().unwrap();
    (header, records.collect())
}

fn export_path(range: (&str, &str), entity: &str, scope: &str, format: &str) -> String {
    format!(
        "/usage/export?start_date={}&end_date={}&entity={entity}&scope={scope}&format={format}",
        range.0, range.1
    )
}

#[actix_web::test]
async fn every_entity_scope_and_format_has_the_spec_columns_and_the_log_values() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    seed_january(&mut s, &cast);
    app.login_as_admin().await;
    for range in [WEEK, MONTH] {
        for entity in ENTITIES {
            for scope in SCOPES {
                let want = oracle(&s, range, entity, scope);
                assert!(!want.is_empty());
                let csv = app.get(&export_path(range, entity, scope, "csv")).await;
                assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
                let (header, mut rows) = parse_csv(&csv.body);
                assert_eq!(header, expected_columns(entity, scope));
                rows.sort();
                let defused: Vec<Vec<String>> = want
                    .iter()
                    .map(|r| r.iter().cloned().map(defuse).collect())
                    .collect();
                assert_eq!(rows, defused, "{range:?} {entity} {scope}");
                let json = app.get(&export_path(range, entity, scope, "json")).await;
                assert_eq!(json.status, StatusCode::OK);
                check_json(&json.body, &expected_columns(entity, scope), &want);
            }
        }
    }
}

fn check_json(body: &str, cols: &[String], want: &[Vec<String>]) {
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    let objects = value.as_array().unwrap();
    assert_eq!(objects.len(), want.len());
    let first_line = body.lines().nth(1).unwrap();
    let positions: Vec<usize> = cols
        .iter()
        .map(|c| first_line.find(&format!("\"{c}\":")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "keys in column order: {first_line}"
    );
    let mut got: Vec<Vec<String>> = objects
        .iter()
        .map(|o| {
            assert_eq!(o.as_object().unwrap().len(), cols.len());
            cols.iter()
                .map(|c| match &o[c.as_str()] {
                    serde_json::Value::String(t) => t.clone(),
                    serde_json::Value::Number(n) if c == "Spend ($)" => {
                        format!("{:.6}", n.as_f64().unwrap())
                    }
                    serde_json::Value::Number(n) => {
                        assert!(n.is_i64(), "{c} is an integer");
                        n.to_string()
                    }
                    other => panic!("{c}: {other}"),
                })
                .collect()
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
}

#[actix_web::test]
async fn csv_has_bom_crlf_quoting_and_no_formulas_and_a_download_name() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    let quoted = s.key("ops, \"night\" 组", cast.lisi, 0);
    seed_january(&mut s, &cast);
    s.request(&SeedRequest::new("gpt-4o", ms("2025-01-07T05:00:00Z")).by(&quoted));
    app.login_as_admin().await;
    let resp = app.get(&export_path(WEEK, "key", "daily", "csv")).await;
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        resp.header("content-disposition").as_deref(),
        Some("attachment; filename=\"key-usage-2025-01-06-2025-01-12-daily.csv\"")
    );
    assert!(resp
        .body
        .starts_with("\u{feff}Date,Key,Entity ID,Spend ($),"));
    assert!(resp.body.ends_with("\r\n"));
    assert_eq!(
        resp.body.matches('\n').count(),
        resp.body.matches("\r\n").count(),
        "only CRLF line ends"
    );
    assert!(
        resp.body
            .contains("\r\n2025-01-07,\"ops, \"\"night\"\" 组\","),
        "{}",
        resp.body
    );
    assert!(resp.body.contains(",'=cmd|' /C calc'!A0,"), "{}", resp.body);
    let json = app
        .get(&export_path(MONTH, "team", "daily_with_models", "json"))
        .await;
    assert_eq!(
        json.header("content-disposition").as_deref(),
        Some("attachment; filename=\"team-usage-2025-01-01-2025-01-31-daily_with_models.json\"")
    );
    assert!(json
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert!(json
        .body
        .contains("\"Team\":\"研发\",\"Entity ID\":\"team-研发\""));
    assert!(json.body.contains("\"Team\":\"(none)\",\"Entity ID\":\"\""));
}

#[actix_web::test]
async fn days_follow_the_configured_utc_offset() {
    let app = spawn_app_with(|c| {
        c.server.utc_offset = tollgate::config::UtcOffset::parse("+08:00").unwrap()
    })
    .await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    s.request(&SeedRequest::new("gpt-4o", ms("2025-01-01T15:59:00Z")).by(&cast.zs_key));
    s.request(&SeedRequest::new("gpt-4o", ms("2025-01-01T16:00:00Z")).by(&cast.zs_key));
    app.login_as_admin().await;
    let resp = app
        .get(&export_path(
            ("2025-01-01", "2025-01-02"),
            "user",
            "daily",
            "csv",
        ))
        .await;
    let (_, rows) = parse_csv(&resp.body);
    let days: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(days, [("2025-01-01", "1"), ("2025-01-02", "1")]);
}

#[actix_web::test]
async fn the_cli_export_writes_the_same_bytes_as_the_http_export() {
    let app = spawn_app().await;
    let mut s = Seeder::open(&app);
    let cast = s.cast();
    seed_january(&mut s, &cast);
    app.login_as_admin().await;
    let config = app.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndatabase = {:?}\n",
            app.db_path.display().to_string()
        ),
    )
    .unwrap();
    for (entity, scope, format) in [
        ("team", "daily", "csv"),
        ("key", "daily_with_keys", "csv"),
        ("user", "daily_with_models", "json"),
    ] {
        let http = app.get(&export_path(MONTH, entity, scope, format)).await;
        let out = app.dir.path().join(format!("{entity}-{scope}.{format}"));
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args([
                "export", "--from", MONTH.0, "--to", MONTH.1, "--entity", entity, "--scope", scope,
                "--format", format, "--config",
            ])
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            http.body.as_bytes(),
            "{entity} {scope} {format}"
        );
    }
    let stdout = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "export", "--from", WEEK.0, "--to", WEEK.1, "--entity", "team", "--scope", "daily",
            "--format", "json", "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let http = app.get(&export_path(WEEK, "team", "daily", "json")).await;
    assert_eq!(stdout.stdout, http.body.as_bytes());
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "export",
            "--from",
            "2025-02-01",
            "--to",
            "2025-01-01",
            "--entity",
            "team",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr)
        .contains("end_date 2025-01-01 is before start_date 2025-02-01"));
}

#[actix_web::test]
async fn bad_export_parameters_are_a_clear_400_in_openai_format() {
    let app = spawn_app().await;
    app.login_as_admin().await;
    let ok = "start_date=2025-01-01&end_date=2025-01-31&entity=team&scope=daily&format=csv";
    let cases = BTreeMap::from([
        ("start_date=2025-02-01&end_date=2025-01-01&entity=team&scope=daily&format=csv", "before start_date"),
        ("start_date=2025/01/01&end_date=2025-01-31&entity=team&scope=daily&format=csv", "start_date must be a date"),
        ("start_date=2025-01-01&end_date=2025-02-30&entity=team&scope=daily&format=csv", "end_date must be a date"),
        ("start_date=2023-01-01&end_date=2025-01-31&entity=team&scope=daily&format=csv", "at most 400"),
        ("start_date=2025-01-01&end_date=2025-01-31&entity=org&scope=daily&format=csv", "entity must be one of team, user, key"),
        ("start_date=2025-01-01&end_date=2025-01-31&entity=team&scope=hourly&format=csv", "scope must be one of"),
        ("start_date=2025-01-01&end_date=2025-01-31&entity=team&scope=daily&format=xlsx", "format must be one of csv, json"),
        ("entity=team&scope=daily&format=csv", "start_date must be a date"),
        ("start_date=2025-01-01%27%20OR%201%3D1&end_date=2025-01-31&entity=team&scope=daily&format=csv", "start_date must be a date"),
    ]);
    for (q, message) in cases {
        let resp = app.get(&format!("/usage/export?{q}")).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{q}");
        let body = resp.json();
        assert_eq!(body["error"]["type"], "invalid_request_error", "{q}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(message),
            "{q}: {body}"
        );
    }
    assert_eq!(
        app.get(&format!("/usage/export?{ok}")).await.status,
        StatusCode::OK
    );
    app.clear_cookies();
    let anon = app.get(&format!("/usage/export?{ok}")).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anon.json()["error"]["type"], "authentication_error");
}

#[actix_web::test]
async fn the_master_key_may_export_and_a_wrong_one_may_not() {
    let app = spawn_app_with(|c| {
        c.server.master_key = Some(tollgate::config::Secret::literal("sk-master-test"))
    })
    .await;
    let path = export_path(MONTH, "team", "daily", "json");
    let ok = app.get_bearer(&path, "sk-master-test").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, "[]\n");
    let wrong = app.get_bearer(&path, "sk-master-wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!wrong.body.contains("sk-master-test"));
}
