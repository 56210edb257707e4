//! The admin pages: server-rendered Askama templates behind a session cookie.
//! Each area exposes `routes`; `app.rs` composes them.

pub mod display;
pub mod error_page;
pub mod form;
pub mod i18n;
pub mod login;
pub mod placeholder;
pub mod session;
pub mod teams;
pub mod users;
pub mod virtual_keys;

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
    cfg.route("/usage", web::get().to(usage_placeholder))
        .route("/logs", web::get().to(logs_placeholder))
        .route("/test-key", web::get().to(test_key_placeholder));
    teams::routes(cfg);
    users::routes(cfg);
    virtual_keys::routes(cfg);
}

async fn usage_placeholder(u: SignedIn, r: HttpRequest) -> Result<HttpResponse, PageError> {
    placeholder::render(u, r, "usage", ("用量分析", "Usage")).await
}
async fn logs_placeholder(u: SignedIn, r: HttpRequest) -> Result<HttpResponse, PageError> {
    placeholder::render(u, r, "logs", ("请求日志", "Request Logs")).await
}
async fn test_key_placeholder(u: SignedIn, r: HttpRequest) -> Result<HttpResponse, PageError> {
    placeholder::render(u, r, "test_key", ("密钥调试", "Key Debugger")).await
}
