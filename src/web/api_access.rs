//! Access to the JSON/file endpoints of usage and logs (`/usage/export`, `/spend/logs`):
//! the master key as a Bearer token, or a signed-in admin's session cookie. Failures
//! are answered in OpenAI's error format.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::session::SESSION_COOKIE;
use crate::app::AppState;
use crate::domain::auth;
use crate::domain::tokens::constant_time_eq;
use crate::error::AppError;

/// The master key holder or a signed-in `proxy_admin`.
#[derive(Debug, Clone)]
pub struct ApiAdmin {
    /// Who, for logs: `master_key` or the admin's username.
    pub actor: String,
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_string())
}

impl FromRequest for ApiAdmin {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::Internal("no state".into()))?;
            if let Some(token) = token {
                let master = state.config.server.master_key.as_ref();
                let ok = master
                    .and_then(|m| m.expose())
                    .is_some_and(|m| constant_time_eq(m, &token));
                return match ok {
                    true => Ok(ApiAdmin {
                        actor: "master_key".into(),
                    }),
                    false => Err(AppError::Authentication(
                        "invalid master key; use Authorization: Bearer <master_key>".into(),
                    )),
                };
            }
            let Some(cookie) = cookie.filter(|c| c.len() <= 100) else {
                return Err(AppError::Authentication(
                    "sign in as an admin or send Authorization: Bearer <master_key>".into(),
                ));
            };
            let user = state
                .db
                .run(move |c| auth::session_user(c, &cookie))
                .await?;
            match user {
                Some(u) if u.role.is_admin() => Ok(ApiAdmin { actor: u.username }),
                Some(_) => Err(AppError::Forbidden("only admins may do this".into())),
                None => Err(AppError::Authentication(
                    "the session has expired; sign in again".into(),
                )),
            }
        })
    }
}
