//! Page authentication: the session-cookie extractors ([`SignedIn`], [`Admin`]), the
//! per-page context every template receives ([`PageCtx`]), and CSRF checking.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use super::i18n::{self, Lang, ShellLabels};
use crate::app::AppState;
use crate::domain::actor::Actor;
use crate::domain::auth::{self, Role, SessionUser};
use crate::domain::tokens::constant_time_eq;
use crate::error::PageError;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "tollgate_session";
/// Name of the language cookie.
pub const LANG_COOKIE: &str = "tollgate_lang";

/// Any signed-in, enabled user.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who.
    pub user: SessionUser,
    /// Their page language.
    pub lang: Lang,
}

/// A signed-in `proxy_admin`; other roles get 403.
#[derive(Debug, Clone)]
pub struct Admin(pub SignedIn);

/// The page language of a request.
pub fn lang_of(req: &HttpRequest) -> Lang {
    req.cookie(LANG_COOKIE)
        .map(|c| Lang::from_code(c.value()))
        .unwrap_or_default()
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let lang = lang_of(req);
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(PageError::LoginRequired);
            };
            if token.len() > 100 {
                return Err(PageError::LoginRequired);
            }
            let user = state.db.run(move |c| auth::session_user(c, &token)).await?;
            user.map(|user| SignedIn { user, lang })
                .ok_or(PageError::LoginRequired)
        })
    }
}

impl FromRequest for Admin {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        Box::pin(async move {
            let s = signed_in.await?;
            if s.user.role != Role::ProxyAdmin {
                return Err(PageError::Forbidden);
            }
            Ok(Admin(s))
        })
    }
}

impl SignedIn {
    /// Refuses a form whose token does not match this session's.
    pub fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        if given.is_empty() || !constant_time_eq(given, &self.user.csrf_token) {
            return Err(PageError::Csrf);
        }
        Ok(())
    }

    /// This user as the actor of a domain operation.
    pub fn actor(&self) -> Actor {
        Actor::user(&self.user, self.lang)
    }

    /// The context for a page under navigation item `active`.
    pub fn page(&self, active: &'static str, path: &str) -> PageCtx {
        PageCtx {
            t: i18n::shell(self.lang),
            lang: self.lang,
            lang_code: self.lang.html_code(),
            username: self.user.username.clone(),
            role_label: i18n::role_label(self.lang, self.user.role),
            is_admin: self.user.role.is_admin(),
            csrf: self.user.csrf_token.clone(),
            active,
            path: path.to_string(),
        }
    }
}

/// What the base layout needs on every page.
#[derive(Debug, Clone)]
pub struct PageCtx {
    /// Shell labels.
    pub t: &'static ShellLabels,
    /// Page language.
    pub lang: Lang,
    /// `zh-CN` / `en`.
    pub lang_code: &'static str,
    /// Signed-in user.
    pub username: String,
    /// Their role, translated.
    pub role_label: &'static str,
    /// Admins see admin-only navigation.
    pub is_admin: bool,
    /// The session's CSRF token, for forms.
    pub csrf: String,
    /// Active navigation item (`usage`, `keys`, `teams`, `users`, `logs`, `test_key`).
    pub active: &'static str,
    /// Current path, for the language switch to return to.
    pub path: String,
}

impl PageCtx {
    /// True when `item` is the active navigation item (templates cannot compare &str to literals nicely).
    pub fn is_active(&self, item: &str) -> bool {
        self.active == item
    }

    /// True when the page is English.
    pub fn is_en(&self) -> bool {
        self.lang == Lang::En
    }
}
