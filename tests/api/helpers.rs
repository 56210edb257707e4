//! `spawn_app` and `TestApp`: the real server on 127.0.0.1:0 with a temp database,
//! and an HTTP client with a small cookie jar and one helper per action.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use awc::http::StatusCode;
use serde_json::Value;
use tollgate::config::Config;
use tollgate::App;

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
        let req = self
            .client
            .post(format!("{}{path}", self.url))
            .insert_header(("cookie", self.cookie_header()));
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
        let page = self.get("/login").await;
        let csrf = csrf_from(&page.body);
        self.post_form(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf_token", &csrf),
            ],
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

/// The master key of [`spawn_entities_app`].
pub const MASTER_KEY: &str = "sk-master-test-key";

/// The four demo models, one deployment each (never called by these tests).
pub fn demo_models() -> Vec<tollgate::config::ModelConfig> {
    use tollgate::proxy::ProviderKind;
    [
        ("gpt-4o", ProviderKind::OpenAi),
        ("claude-3-5-sonnet", ProviderKind::Anthropic),
        ("gemini-pro", ProviderKind::Gemini),
        ("mistral-large", ProviderKind::Mistral),
    ]
    .into_iter()
    .map(|(name, provider)| tollgate::config::ModelConfig {
        name: name.to_string(),
        provider,
        model: name.to_string(),
        api_base: Some("http://127.0.0.1:9".to_string()),
        api_key: None,
        input_cost_per_mtok: Some(1.0),
        output_cost_per_mtok: Some(2.0),
        cache_read_cost_per_mtok: None,
        cache_write_cost_per_mtok: None,
        max_output_tokens: None,
        timeout_s: 5,
        max_retries: 0,
        rpm: None,
        tpm: None,
    })
    .collect()
}

/// An app with the demo models and [`MASTER_KEY`] configured.
pub async fn spawn_entities_app() -> TestApp {
    spawn_app_with(|c| {
        c.models = demo_models();
        c.server.master_key = Some(tollgate::config::Secret::literal(MASTER_KEY));
    })
    .await
}

impl TestApp {
    /// Rows in `table` (read straight from the database file).
    pub fn count(&self, table: &str) -> i64 {
        let conn = rusqlite::Connection::open(&self.db_path).expect("db opens");
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    }

    /// (keys, teams, users, team_members) row counts, to prove nothing changed.
    pub fn entity_counts(&self) -> (i64, i64, i64, i64) {
        (
            self.count("keys"),
            self.count("teams"),
            self.count("users"),
            self.count("team_members"),
        )
    }

    /// POST a page form with this session's CSRF token added.
    pub async fn post_page(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let csrf = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(path, &all).await
    }

    /// 创建分组 through the page.
    pub async fn create_team_page(&self, name: &str, budget: &str, period: &str) -> Resp {
        let fields = [
            ("team_alias", name),
            ("max_budget", budget),
            ("budget_duration", period),
            ("models_mode", "all"),
        ];
        self.post_page("/teams", &fields).await
    }

    /// The value of the `<option>` labelled `label` on `page` (e.g. a team's id).
    pub async fn option_value(&self, page: &str, label: &str) -> String {
        let html = self.get(page).await.body;
        let end = format!("\">{label}</option>");
        let at = html
            .find(&end)
            .unwrap_or_else(|| panic!("no option {label} on {page}"));
        let start = html[..at].rfind("value=\"").expect("option value") + 7;
        html[start..at].to_string()
    }

    /// 创建用户 through the page (普通用户 unless `role` says otherwise).
    pub async fn create_user_page(
        &self,
        name: &str,
        role: &str,
        team: &str,
        budget: &str,
        password: &str,
    ) -> Resp {
        let team_id = if team.is_empty() {
            String::new()
        } else {
            self.option_value("/users", team).await
        };
        let fields = [
            ("username", name),
            ("user_role", role),
            ("team_id", team_id.as_str()),
            ("max_budget", budget),
            ("budget_duration", "monthly"),
            ("password", password),
        ];
        self.post_page("/users", &fields).await
    }

    /// 生成密钥 through the page with 全部模型 and 永久; returns the page.
    pub async fn generate_key_page(
        &self,
        alias: &str,
        user: &str,
        team: &str,
        budget: &str,
    ) -> Resp {
        let team_id = if team.is_empty() {
            String::new()
        } else {
            self.option_value("/virtual-keys", team).await
        };
        let fields = [
            ("key_alias", alias),
            ("user", user),
            ("team_id", team_id.as_str()),
            ("max_budget", budget),
            ("budget_duration", "monthly"),
            ("models_mode", "all"),
            ("expiry", "never"),
        ];
        self.post_page("/virtual-keys", &fields).await
    }

    /// A management API call with the master key.
    pub async fn api(&self, path: &str, body: Value) -> Resp {
        let req = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(MASTER_KEY);
        self.finish(req.send_json(&body).await).await
    }

    /// A management API GET with the master key.
    pub async fn api_get(&self, path: &str) -> Resp {
        self.get_bearer(path, MASTER_KEY).await
    }

    /// `/team/new` with the master key; returns the team_id.
    pub async fn create_team(&self, alias: &str, budget: f64) -> String {
        let resp = self
            .api("/team/new", serde_json::json!({"team_alias": alias, "max_budget": budget, "budget_duration": "monthly"}))
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
        resp.json()["team_id"]
            .as_str()
            .expect("team_id")
            .to_string()
    }

    /// `/user/new` with the master key.
    pub async fn create_user(
        &self,
        name: &str,
        role: &str,
        team_id: Option<&str>,
        budget: Option<f64>,
        password: Option<&str>,
    ) {
        let body = serde_json::json!({"user_id": name, "user_role": role, "team_id": team_id, "max_budget": budget, "password": password});
        let resp = self.api("/user/new", body).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    }

    /// `/key/generate` with the master key; returns (secret, token).
    pub async fn generate_key(&self, body: Value) -> (String, String) {
        let resp = self.api("/key/generate", body).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
        let json = resp.json();
        (
            json["key"].as_str().expect("key").to_string(),
            json["token"].as_str().expect("token").to_string(),
        )
    }
}

/// The one-time secret shown after 生成, if the page shows one.
pub fn secret_from(html: &str) -> Option<String> {
    let marker = "id=\"new-key\">";
    let start = html.find(marker)? + marker.len();
    Some(html[start..].split('<').next()?.trim().to_string())
}

/// The text of the `data-col="col"` cell in the row marked `row_attr` (e.g. `data-team="研发部门"`).
pub fn cell(html: &str, row_attr: &str, col: &str) -> String {
    let row = html
        .find(row_attr)
        .unwrap_or_else(|| panic!("no row {row_attr}"));
    let marker = format!("data-col=\"{col}\">");
    let start = row + html[row..].find(&marker).expect("cell") + marker.len();
    let text = &html[start..];
    let text = text.strip_prefix("<strong>").unwrap_or(text);
    text.split('<')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The OpenAI-format error message of a JSON response.
pub fn error_message(resp: &Resp) -> String {
    resp.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
