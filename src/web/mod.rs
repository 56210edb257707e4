//! The admin pages: server-rendered Askama templates behind a session cookie.
//! Each area exposes `routes`; `app.rs` composes them.

pub mod api_access;
pub mod chart;
pub mod deployments;
pub mod display;
pub mod error_page;
pub mod export;
pub mod filters;
pub mod form;
pub mod format;
pub mod i18n;
pub mod login;
pub mod logs;
pub mod security_headers;
pub mod session;
pub mod spend_logs;
pub mod teams;
pub mod test_key;
pub mod usage;
pub mod users;
pub mod virtual_keys;

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::error::PageError;

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
    teams::routes(cfg);
    users::routes(cfg);
    virtual_keys::routes(cfg);
    test_key::routes(cfg);
    deployments::routes(cfg);
}
