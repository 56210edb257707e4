//! The foundation: login/logout, sessions, CSRF, throttling, the page shell, health,
//! config errors, migrations and backup.

use awc::http::StatusCode;
use tollgate::config::Config;
use tollgate::db::Db;

use crate::helpers::*;

#[actix_web::test]
async fn pages_redirect_to_login_without_a_session() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/usage",
        "/teams",
        "/users",
        "/virtual-keys",
        "/logs",
        "/test-key",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(resp.location().as_deref(), Some("/login"), "{path}");
    }
}

#[actix_web::test]
async fn admin_logs_in_and_sees_the_chinese_shell() {
    let app = spawn_app().await;
    let login = app.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("登录"));
    app.login_as_admin().await;
    let page = app.get("/usage").await;
    assert_eq!(page.status, StatusCode::OK);
    for label in [
        "用量分析",
        "API密钥",
        "分组",
        "用户",
        "请求日志",
        "密钥调试",
        "退出",
        "admin",
    ] {
        assert!(page.body.contains(label), "missing {label}");
    }
    assert!(page.body.contains("lang=\"zh-CN\""));
    let session = app.get("/login").await;
    assert_eq!(session.status, StatusCode::OK);
}

#[actix_web::test]
async fn session_cookie_is_http_only_and_lax() {
    let app = spawn_app().await;
    let page = app.get("/login").await;
    let csrf = csrf_from(&page.body);
    let resp = app
        .post_form(
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    let cookie = resp
        .headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("tollgate_session="))
        .expect("session cookie")
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Max-Age"), "{cookie}");
}

#[actix_web::test]
async fn language_switch_renders_english() {
    let app = spawn_app().await;
    app.login_as_admin().await;
    let resp = app.get("/lang/en?next=/usage").await;
    assert_eq!(resp.location().as_deref(), Some("/usage"));
    let page = app.get("/usage").await;
    assert!(page.body.contains("Request Logs") && page.body.contains("Log out"));
    let evil = app.get("/lang/zh?next=//evil.example").await;
    assert_eq!(evil.location().as_deref(), Some("/"));
}

#[actix_web::test]
async fn wrong_password_and_unknown_user_get_the_same_clear_message() {
    let app = spawn_app().await;
    let wrong = app.login("admin", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("用户名或密码错误"));
    let unknown = app.login("nobody", "whatever-pass").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains("用户名或密码错误"));
    assert_eq!(app.get("/usage").await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn login_without_or_with_forged_csrf_is_refused() {
    let app = spawn_app().await;
    let _ = app.get("/login").await;
    let none = app
        .post_form(
            "/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    let forged = app
        .post_form(
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/usage").await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn logout_needs_nothing_but_ends_the_session() {
    let app = spawn_app().await;
    app.login_as_admin().await;
    let csrf = app.csrf().await;
    let resp = app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(resp.location().as_deref(), Some("/login"));
    assert_eq!(app.get("/usage").await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn five_failures_throttle_the_username_even_with_the_right_password() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(
            app.login("admin", "wrong-password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.body.contains("15"), "{}", blocked.body);
    assert_eq!(app.get("/usage").await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn garbage_and_expired_session_cookies_go_to_login() {
    let app = spawn_app().await;
    app.set_cookie("tollgate_session", "garbage-value");
    assert_eq!(app.get("/usage").await.status, StatusCode::SEE_OTHER);
    app.login_as_admin().await;
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    conn.execute("UPDATE sessions SET expires_at = 0", [])
        .unwrap();
    let resp = app.get("/usage").await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    assert_eq!(resp.location().as_deref(), Some("/login"));
}

#[actix_web::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/liveliness").await.status, StatusCode::OK);
    let ready = app.get("/health/readiness").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["db"], "connected");
    let css = app.get("/static/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
}

#[actix_web::test]
async fn backup_finishes_while_traffic_flows_and_produces_a_database_that_opens() {
    let app = spawn_app().await;
    let key = app.key("busy").await;
    // Enough rows that a page-by-page copy would be restarted by the writes below.
    app.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
         INSERT INTO audit_log (at, actor, action, target, detail) \
         SELECT i, 'seed', 'seed', hex(randomblob(64)), hex(randomblob(256)) FROM n",
    )
    .await;
    let db = Db::open(&app.db_path).unwrap();
    let out = app.dir.path().join("copy.db");
    let copy_path = out.clone();
    let backup = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        db.backup_to(&copy_path).map(|()| started.elapsed())
    });
    let mut served = 0;
    while !backup.is_finished() {
        assert_eq!(
            app.chat(&key, &chat_body("gpt-4o", "during the backup"))
                .await
                .status,
            StatusCode::OK
        );
        served += 1;
    }
    let took = backup.join().unwrap().expect("backup written");
    assert!(
        took < std::time::Duration::from_secs(20),
        "{took:?} ({served} requests beside it)"
    );
    let copy = rusqlite::Connection::open(&out).unwrap();
    let admins: i64 = copy
        .query_row(
            "SELECT COUNT(*) FROM users WHERE role = 'proxy_admin'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(admins, 1);
}

#[actix_web::test]
async fn migrations_apply_once_and_newer_schemas_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    Db::open(&path).unwrap();
    Db::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, tollgate::db::migrations::LATEST);
    conn.execute("UPDATE schema_version SET version = 999", [])
        .unwrap();
    let err = Db::open(&path).err().expect("refused").to_string();
    assert!(err.contains("newer"), "{err}");
}

#[actix_web::test]
async fn a_file_that_is_not_sqlite_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    std::fs::write(
        &path,
        "this is not a database, just text padding it out ".repeat(100),
    )
    .unwrap();
    let err = Db::open(&path).err().expect("refused").to_string();
    assert!(err.contains("not a SQLite database"), "{err}");
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("this is not"));
}

#[actix_web::test]
async fn a_read_only_database_folder_is_refused_clearly() {
    // As root, permission bits are not enforced: use a folder no one can create files in.
    let folder = if is_root() {
        std::path::PathBuf::from("/proc/tollgate-test")
    } else {
        let dir = tempfile::tempdir().unwrap().keep();
        let ro = dir.join("ro");
        std::fs::create_dir(&ro).unwrap();
        let mut perms = std::fs::metadata(&ro).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
        std::fs::set_permissions(&ro, perms).unwrap();
        ro
    };
    let err = Db::open(&folder.join("t.db"))
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("cannot open database") && err.contains("t.db"),
        "{err}"
    );
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn config_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "[server]\nlisten = \"nope\"\n").unwrap();
    let err = Config::load(&path).expect_err("refused").to_string();
    assert!(
        err.contains("config.toml") && err.contains("line 2") && err.contains("nope"),
        "{err}"
    );
    std::fs::write(&path, "[server\n").unwrap();
    let err = Config::load(&path).expect_err("refused").to_string();
    assert!(err.contains("line 1"), "{err}");
    let missing = Config::load(&dir.path().join("absent.toml"))
        .expect_err("refused")
        .to_string();
    assert!(missing.contains("absent.toml"), "{missing}");
}

#[test]
fn the_shipped_config_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let config = Config::load(&path).expect("shipped config.toml is valid");
    let names: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
    for name in ["gpt-4o", "claude-3-5-sonnet", "gemini-pro", "mistral-large"] {
        assert!(names.contains(&name), "{name} missing");
    }
}

#[actix_web::test]
async fn every_page_renders_in_both_languages() {
    let app = spawn_app().await;
    app.login_as_admin().await;
    let pages = [
        ("/usage", "用量分析", "Usage"),
        ("/teams", "创建分组", "Teams"),
        ("/users", "创建用户", "Users"),
        ("/virtual-keys", "生成密钥", "API Keys"),
        ("/logs", "请求日志", "Request Logs"),
        ("/test-key", "密钥调试", "Key Debugger"),
    ];
    for (path, zh, _) in pages {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains(zh), "{path} in Chinese");
        assert!(page.body.contains("lang=\"zh-CN\""), "{path}");
    }
    app.get("/lang/en?next=/usage").await;
    for (path, _, en) in pages {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains(en), "{path} in English");
        assert!(page.body.contains("lang=\"en\""), "{path}");
        let body = page.body.replace("中文", "");
        let cjk: String = body
            .chars()
            .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
            .take(20)
            .collect();
        assert!(
            cjk.is_empty(),
            "{path} has untranslated text in English: {cjk}"
        );
    }
}
