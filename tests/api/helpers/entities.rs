//! Helpers for teams, users and keys: an app with the demo models and a master key,
//! one helper per page form and API call, and small HTML/JSON readers.

use awc::http::StatusCode;
use serde_json::Value;

use super::{spawn_app_with, Resp, TestApp};

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
        api_base: Some("http://127.0.0.1:9".to_string()),
        input_cost_per_mtok: Some(1.0),
        output_cost_per_mtok: Some(2.0),
        timeout_s: 5,
        max_retries: 0,
        ..tollgate::config::ModelConfig::new(name, provider, name)
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
