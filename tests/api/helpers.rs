//! `spawn_app` and `TestApp`: the real server on 127.0.0.1:0 with a temp database,
//! and an HTTP client with a small cookie jar and one helper per action.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use awc::http::StatusCode;
use serde_json::Value;
use tollgate::config::Config;
use tollgate::simulator::{Fault, FaultKind, SimProvider, Simulator, SimulatorConfig};
use tollgate::App;

mod entities;
pub mod outbound;
pub use entities::*;

/// Password of the admin every test app starts with.
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Temp dir holding the database (deleted on drop).
    pub dir: tempfile::TempDir,
    /// Database file.
    pub db_path: PathBuf,
    /// The server's shared state.
    pub state: actix_web::web::Data<tollgate::AppState>,
    /// The strict fake providers the demo models are routed to.
    pub sim: Simulator,
    /// The simulator's address.
    pub sim_addr: std::net::SocketAddr,
    client: awc::Client,
    cookies: RefCell<BTreeMap<String, String>>,
}

/// A response read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: awc::http::header::HeaderMap,
    pub body: String,
}

impl Resp {
    /// The body as JSON (Null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The redirect target.
    pub fn location(&self) -> Option<String> {
        self.header("location")
    }
}

/// Starts the app with the default test config.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after `adjust` has changed the test config.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("tollgate.db");
    let mut config = Config::for_test(db_path.clone());
    config.admin.bootstrap_password = Some(ADMIN_PASSWORD.to_string());
    let sim = Simulator::new(SimulatorConfig::default());
    let (sim_addr, sim_server) = sim.bind("127.0.0.1:0").expect("simulator binds");
    actix_web::rt::spawn(sim_server);
    tollgate::demo::route_demo_models(&mut config, sim_addr);
    adjust(&mut config);
    let app = App::build(config).await.expect("app starts");
    let url = format!("http://{}", app.addr);
    let state = app.state.clone();
    actix_web::rt::spawn(app.server);
    TestApp {
        url,
        dir,
        db_path,
        state,
        sim,
        sim_addr,
        client: awc::Client::builder()
            .disable_redirects()
            .timeout(std::time::Duration::from_secs(30))
            .finish(),
        cookies: RefCell::new(BTreeMap::new()),
    }
}

impl TestApp {
    fn cookie_header(&self) -> String {
        self.cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&self, headers: &awc::http::header::HeaderMap) {
        for value in headers.get_all("set-cookie") {
            let Ok(text) = value.to_str() else { continue };
            let Ok(cookie) = actix_web::cookie::Cookie::parse(text.to_string()) else {
                continue;
            };
            let expired = cookie
                .max_age()
                .is_some_and(|a| a.is_zero() || a.is_negative())
                || cookie.value().is_empty();
            if expired {
                self.cookies.borrow_mut().remove(cookie.name());
            } else {
                self.cookies
                    .borrow_mut()
                    .insert(cookie.name().to_string(), cookie.value().to_string());
            }
        }
    }

    /// Sets a cookie by hand (forged/expired cookie tests).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .borrow_mut()
            .insert(name.to_string(), value.to_string());
    }

    /// Forgets every cookie.
    pub fn clear_cookies(&self) {
        self.cookies.borrow_mut().clear();
    }

    async fn finish(
        &self,
        resp: Result<
            awc::ClientResponse<
                impl futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
            >,
            awc::error::SendRequestError,
        >,
    ) -> Resp {
        let mut resp = resp.expect("request sent");
        self.keep_cookies(resp.headers());
        let body = resp
            .body()
            .limit(64 * 1024 * 1024)
            .await
            .expect("body read");
        Resp {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: String::from_utf8_lossy(&body).to_string(),
        }
    }

    /// GET with the cookie jar.
    pub async fn get(&self, path: &str) -> Resp {
        let req = self
            .client
            .get(format!("{}{path}", self.url))
            .insert_header(("cookie", self.cookie_header()));
        self.finish(req.send().await).await
    }

    /// GET with a bearer token and no cookies.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Resp {
        let req = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token);
        self.finish(req.send().await).await
    }

    /// POST an url-encoded form with the cookie jar.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.post_form_with(path, form, &[]).await
    }

    /// POST an url-encoded form with the cookie jar and extra headers.
    pub async fn post_form_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .insert_header(("cookie", self.cookie_header()));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        self.finish(req.send_form(&form).await).await
    }

    /// POST JSON with an optional bearer token and the cookie jar.
    pub async fn post_json(&self, path: &str, body: &Value, bearer: Option<&str>) -> Resp {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .insert_header(("cookie", self.cookie_header()));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.finish(req.send_json(body).await).await
    }

    /// POST raw bytes with a content type and a bearer token.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        bearer: Option<&str>,
    ) -> Resp {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .insert_header(("content-type", content_type));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.finish(req.send_body(body.to_string()).await).await
    }

    /// Signs in through the login form; panics unless it redirects.
    pub async fn login(&self, username: &str, password: &str) -> Resp {
        self.login_with(username, password, &[]).await
    }

    /// Signs in through the login form with extra headers (`x-forwarded-for` as a
    /// reverse proxy on this host would send it).
    pub async fn login_with(
        &self,
        username: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> Resp {
        let page = self.get("/login").await;
        let csrf = csrf_from(&page.body);
        self.post_form_with(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf_token", &csrf),
            ],
            headers,
        )
        .await
    }

    /// Signs in as the built-in admin.
    pub async fn login_as_admin(&self) {
        let resp = self.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(
            resp.status,
            StatusCode::SEE_OTHER,
            "admin login failed: {}",
            resp.body
        );
    }

    /// The session's CSRF token, read from a page's form.
    pub async fn csrf(&self) -> String {
        let page = self.get("/usage").await;
        csrf_from(&page.body)
    }
}

/// Extracts the first `csrf_token` hidden field from a page.
pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    html.find(marker)
        .map(|i| &html[i + marker.len()..])
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

/// The walkthrough's four models.
pub const WALKTHROUGH_MODELS: [&str; 4] =
    ["gpt-4o", "claude-3-5-sonnet", "gemini-pro", "mistral-large"];

/// A key to insert directly (tests of the proxy do not depend on the key pages).
#[derive(Default)]
pub struct KeySpec<'a> {
    pub alias: &'a str,
    pub budget_usd: Option<f64>,
    pub models: &'a [&'a str],
    pub user_id: Option<i64>,
    pub team_id: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub blocked: bool,
    pub rpm: Option<i64>,
}

/// A simple chat body.
pub fn chat_body(model: &str, text: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// A simple streamed chat body.
pub fn stream_body(model: &str, text: &str) -> Value {
    let mut body = chat_body(model, text);
    body["stream"] = serde_json::json!(true);
    body
}

/// One queued simulator fault for `provider`.
pub fn fault(provider: Option<SimProvider>, times: u32, kind: FaultKind) -> Fault {
    Fault {
        provider,
        model: None,
        times,
        kind,
    }
}

impl TestApp {
    /// A key with no budget, limits or owner.
    pub async fn key(&self, alias: &str) -> String {
        self.insert_key(KeySpec {
            alias,
            ..KeySpec::default()
        })
        .await
    }

    /// Inserts a key row and refreshes the gateway; returns the secret.
    pub async fn insert_key(&self, spec: KeySpec<'_>) -> String {
        let secret = format!("sk-{}", tollgate::domain::tokens::random_base62(40));
        let hash = tollgate::domain::tokens::sha256_hex(&secret);
        let conn = rusqlite::Connection::open(&self.db_path).unwrap();
        let models = serde_json::to_string(spec.models).unwrap();
        let budget = spec.budget_usd.map(|b| (b * 1e9).round() as i64);
        conn.execute(
            "INSERT INTO keys (token, alias, last4, user_id, team_id, max_budget, budget_duration, models, expires_at, blocked, rpm, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, 0, 0)",
            rusqlite::params![hash, spec.alias, &secret[secret.len() - 4..], spec.user_id, spec.team_id, budget, models, spec.expires_at_ms, spec.blocked, spec.rpm],
        )
        .unwrap();
        self.state.entities_changed().await.unwrap();
        secret
    }

    /// Runs SQL on the test database, then refreshes the gateway's view.
    pub async fn sql(&self, sql: &str) {
        let conn = rusqlite::Connection::open(&self.db_path).unwrap();
        conn.execute_batch(sql).unwrap();
        self.state.entities_changed().await.unwrap();
    }

    /// POST /chat/completions with a virtual key.
    pub async fn chat(&self, key: &str, body: &Value) -> Resp {
        let req = self
            .client
            .post(format!("{}/chat/completions", self.url))
            .bearer_auth(key);
        self.finish(req.send_json(body).await).await
    }

    /// POST raw text as JSON with extra headers (no cookies).
    pub async fn client_raw_post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .insert_header(("content-type", "application/json"));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        self.finish(req.send_body(body.to_string()).await).await
    }

    /// POST `body` to the Messages door with the key in `x-api-key` and extra headers.
    pub async fn messages(&self, key: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut req = self
            .client
            .post(format!("{}/v1/messages?beta=true", self.url))
            .insert_header(("x-api-key", key))
            .insert_header(("anthropic-version", "2023-06-01"));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        self.finish(req.send_json(body).await).await
    }

    /// A streamed chat body for `model`, whose next stream from `provider` paces its
    /// events `ms` apart.
    pub fn paced_stream_body(
        &self,
        provider: SimProvider,
        model: &str,
        ms: u64,
        text: &str,
    ) -> Value {
        self.sim
            .push_fault(fault(Some(provider), 1, FaultKind::StreamDelay { ms }));
        stream_body(model, text)
    }

    /// Waits until every finished request is committed to the ledger.
    pub async fn flush_ledger(&self) {
        self.state.ledger.flush().await;
    }

    /// One text from the test database.
    pub fn query_text(&self, sql: &str) -> String {
        let conn = rusqlite::Connection::open(&self.db_path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// One integer from the test database.
    pub fn query_i64(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(&self.db_path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// The text of an OpenAI SSE body's chunks (first choice), concatenated.
pub fn streamed_content(body: &str) -> String {
    sse_data(body)
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// Parses an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_string)
        })
        .collect()
}
