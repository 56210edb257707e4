//! The page-side defects of issue 14, pinned through HTTP: login throttling that is
//! atomic and counted per client address, the language switch's redirect, security
//! headers and `Secure` cookies, and usernames that are path segments.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

const ATTACKER: (&str, &str) = ("x-forwarded-for", "198.51.100.7");

#[actix_web::test]
async fn parallel_wrong_passwords_get_five_checks_and_the_admin_still_signs_in_elsewhere() {
    let app = spawn_app().await;
    let page = app.get("/login").await;
    let csrf = csrf_from(&page.body);
    let form = [
        ("username", "admin"),
        ("password", "wrong-password"),
        ("csrf_token", csrf.as_str()),
    ];
    let attempts = (0..40).map(|_| app.post_form_with("/login", &form, &[ATTACKER]));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, throttled), (5, 35), "{statuses:?}");
    // The right password from the attacker's address is throttled too ...
    let blocked = app.login_with("admin", ADMIN_PASSWORD, &[ATTACKER]).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    // ... but the admin at their own machine, or behind the same proxy from another
    // address, is not locked out.
    let own = app
        .login_with(
            "admin",
            ADMIN_PASSWORD,
            &[("x-forwarded-for", "203.0.113.20")],
        )
        .await;
    assert_eq!(own.status, StatusCode::SEE_OTHER, "{}", own.body);
    app.clear_cookies();
    app.login_as_admin().await;
}

#[actix_web::test]
async fn one_address_trying_many_usernames_is_throttled_as_a_whole() {
    let app = spawn_app().await;
    for i in 0..20 {
        let name = format!("guess{}", i % 4);
        let resp = app.login_with(&name, "wrong-password", &[ATTACKER]).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let next = app
        .login_with("someone-else", "whatever-pass", &[ATTACKER])
        .await;
    assert_eq!(next.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'login.throttled' AND detail = '198.51.100.7'"),
        1
    );
    // Another address is unaffected.
    app.login_as_admin().await;
}

#[actix_web::test]
async fn the_language_switch_never_redirects_off_site() {
    let app = spawn_app().await;
    for next in [
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0d%0aSet-Cookie:%20x=1",
        "//evil.example",
        "/%5Cevil.example",
        "https://evil.example/",
        "/%20/evil.example",
    ] {
        let resp = app.get(&format!("/lang/en?next={next}")).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{next}: {}", resp.body);
        assert_eq!(resp.location().as_deref(), Some("/"), "{next}");
    }
    let resp = app.get("/lang/en?next=/logs%3Fmodel%3Dgpt-4o").await;
    assert_eq!(resp.location().as_deref(), Some("/logs?model=gpt-4o"));
}

#[actix_web::test]
async fn pages_carry_security_headers_and_cookies_are_secure_behind_https() {
    let app = spawn_app().await;
    let page = app.get("/login").await;
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!page
        .header("set-cookie")
        .unwrap_or_default()
        .contains("Secure"));
    // The proxy doors are left alone.
    let key = app.key("k").await;
    let chat = app.chat(&key, &chat_body("gpt-4o", "hi")).await;
    assert_eq!(chat.status, StatusCode::OK);
    assert!(chat.header("x-frame-options").is_none());

    let csrf = csrf_from(&page.body);
    let form = [
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
        ("csrf_token", csrf.as_str()),
    ];
    let signed_in = app
        .post_form_with("/login", &form, &[("x-forwarded-proto", "https")])
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let cookies: Vec<String> = signed_in
        .headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("tollgate_session="))
        .expect("a session cookie");
    assert!(
        session.contains("Secure") && session.contains("HttpOnly"),
        "{session}"
    );
}

#[actix_web::test]
async fn usernames_made_only_of_dots_are_refused() {
    let app = spawn_entities_app().await;
    let before = app.query_i64("SELECT COUNT(*) FROM users");
    for name in [".", "..", "._-"] {
        let resp = app
            .post_json("/user/new", &json!({"user_id": name}), Some(MASTER_KEY))
            .await;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            resp.body
        );
        assert!(resp.body.contains("letter or digit"), "{}", resp.body);
    }
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM users"), before);
    let ok = app
        .post_json("/user/new", &json!({"user_id": "li.si"}), Some(MASTER_KEY))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}
