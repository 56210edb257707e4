//! CORS (SPEC §12): browser clients may call the proxy doors from the origins in
//! `[server] cors_origins`; other origins get no CORS headers, and the admin pages and
//! the management API never do, whatever the config.

use awc::http::{Method, StatusCode};

use crate::helpers::*;

const ALLOWED: &str = "https://chat.example.com";

async fn preflight(
    app: &TestApp,
    path: &str,
    origin: &str,
) -> awc::ClientResponse<
    impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>,
> {
    awc::Client::new()
        .request(Method::OPTIONS, format!("{}{path}", app.url))
        .insert_header(("origin", origin))
        .insert_header(("access-control-request-method", "POST"))
        .insert_header((
            "access-control-request-headers",
            "authorization, content-type, x-stainless-os",
        ))
        .send()
        .await
        .expect("preflight answered")
}

fn header(resp: &awc::ClientResponse<impl futures_util::Stream>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[actix_web::test]
async fn preflights_are_answered_for_allowed_origins_on_the_proxy_doors_only() {
    let app = spawn_app_with(|c| c.server.cors_origins = vec![ALLOWED.to_string()]).await;
    for path in [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/rerank",
        "/v1/messages",
        "/v1/models",
    ] {
        let ok = preflight(&app, path, ALLOWED).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(
            header(&ok, "access-control-allow-origin").as_deref(),
            Some(ALLOWED),
            "{path}"
        );
        assert!(header(&ok, "access-control-allow-headers")
            .unwrap()
            .contains("x-stainless-os"));
        assert!(header(&ok, "access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        let refused = preflight(&app, path, "https://evil.example").await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(header(&refused, "access-control-allow-origin").is_none());
    }
    for path in ["/login", "/keys", "/key/generate", "/team/new", "/user/new"] {
        let admin = preflight(&app, path, ALLOWED).await;
        assert!(
            header(&admin, "access-control-allow-origin").is_none(),
            "{path} must get no CORS headers"
        );
        assert_ne!(admin.status(), StatusCode::NO_CONTENT, "{path}");
    }

    // The real call from the allowed origin carries the headers a browser needs.
    let key = app.key("browser").await;
    let mut resp = awc::Client::new()
        .post(format!("{}/v1/chat/completions", app.url))
        .insert_header(("origin", ALLOWED))
        .bearer_auth(&key)
        .send_json(&chat_body("gpt-4o", "hi"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some(ALLOWED)
    );
    assert!(header(&resp, "access-control-expose-headers")
        .unwrap()
        .contains("x-tollgate-cost"));
    resp.body().await.unwrap();
    let other = awc::Client::new()
        .post(format!("{}/v1/chat/completions", app.url))
        .insert_header(("origin", "https://evil.example"))
        .bearer_auth(&key)
        .send_json(&chat_body("gpt-4o", "hi"))
        .await
        .unwrap();
    assert!(header(&other, "access-control-allow-origin").is_none());
    let page = awc::Client::new()
        .get(format!("{}/login", app.url))
        .insert_header(("origin", ALLOWED))
        .send()
        .await
        .unwrap();
    assert!(header(&page, "access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn no_cors_by_default_and_a_star_allows_every_origin() {
    let closed = spawn_app().await;
    let resp = preflight(&closed, "/v1/chat/completions", ALLOWED).await;
    assert!(header(&resp, "access-control-allow-origin").is_none());

    let open = spawn_app_with(|c| c.server.cors_origins = vec!["*".to_string()]).await;
    let resp = preflight(&open, "/chat/completions", "http://localhost:3210").await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    let resp = preflight(&open, "/key/generate", "http://localhost:3210").await;
    assert!(header(&resp, "access-control-allow-origin").is_none());
}

#[test]
fn cors_origins_are_read_as_a_list_or_a_star_and_checked() {
    let parse =
        |text: &str| tollgate::config::Config::parse(text, std::path::Path::new("config.toml"));
    let list =
        parse("[server]\ncors_origins = [\"https://a.example\", \"http://localhost:3000/\"]\n")
            .unwrap();
    assert_eq!(
        list.server.cors_origins,
        ["https://a.example", "http://localhost:3000"]
    );
    assert_eq!(
        parse("[server]\ncors_origins = \"*\"\n")
            .unwrap()
            .server
            .cors_origins,
        ["*"]
    );
    let bad = parse("[server]\ncors_origins = [\"a.example/path\"]\n")
        .unwrap_err()
        .to_string();
    assert!(bad.contains("cors_origins"), "{bad}");
}
