//! The admin pages: server-rendered Askama templates behind a session cookie.
//! Each area exposes `routes`; `app.rs` composes them.

pub mod api_access;
pub mod chart;
pub mod error_page;
pub mod export;
pub mod filters;
pub mod format;
pub mod i18n;
pub mod login;
pub mod logs;
pub mod placeholder;
pub mod session;
pub mod spend_logs;
pub mod test_key;
pub mod usage;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::error::PageError;
use session::SignedIn;

/// Named page URLs, so redirects never spell paths by hand.
#[derive(Debug, Clone, Copy)]
pub enum Url {
    /// `/`
    Home,
    /// `/login`
    Login,
    /// `/usage`
    Usage,
    /// `/teams`
    Teams,
    /// `/users`
    Users,
    /// `/virtual-keys`
    Keys,
    /// `/logs`
    Logs,
    /// `/test-key`
    TestKey,
}

impl Url {
    /// The path.
    pub fn path(self) -> &'static str {
        match self {
            Url::Home => "/",
            Url::Login => "/login",
            Url::Usage => "/usage",
            Url::Teams => "/teams",
            Url::Users => "/users",
            Url::Keys => "/virtual-keys",
            Url::Logs => "/logs",
            Url::TestKey => "/test-key",
        }
    }
}

/// Renders a template as an HTML response with `status`.
pub fn html(page: &impl Template, status: u16) -> Result<HttpResponse, PageError> {
    let body = page.render()?;
    let status =
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK);
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(body))
}

/// A `303 See Other` to `url`.
pub fn see_other(url: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, url))
        .finish()
}

/// Routes of every page.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(login::home));
    login::routes(cfg);
    usage::routes(cfg);
    logs::routes(cfg);
    spend_logs::routes(cfg);
    cfg.route("/teams", web::get().to(teams_placeholder))
        .route("/users", web::get().to(users_placeholder))
        .route("/virtual-keys", web::get().to(keys_placeholder));
    test_key::routes(cfg);
}

async fn teams_placeholder(u: SignedIn, r: HttpRequest) -> Result<HttpResponse, PageError> {
    placeholder::render(u, r, "teams", ("分组", "Teams")).await
}
async fn users_placeholder(u: SignedIn, r: HttpRequest) -> Result<HttpResponse, PageError> {
    placeholder::render(u, r, "users", ("用户", "Users")).await
}
async fn keys_placeholder(u: SignedIn, r: HttpRequest) -> Result<HttpResponse, PageError> {
    placeholder::render(u, r, "keys", ("API密钥", "API Keys")).await
}
