//! `/login`, `/logout` and the language switch. The login form is protected by a
//! double-submit CSRF cookie (there is no session yet to tie a token to).

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::i18n::Lang;
use super::session::{lang_of, SignedIn, LANG_COOKIE, SESSION_COOKIE};
use super::{html, Url};
use crate::app::AppState;
use crate::domain::auth;
use crate::domain::tokens::{constant_time_eq, random_base62};
use crate::domain::DomainError;
use crate::error::PageError;

const LOGIN_CSRF_COOKIE: &str = "tollgate_login_csrf";

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(show))
        .route("/login", web::post().to(submit))
        .route("/logout", web::get().to(logout))
        .route("/logout", web::post().to(logout))
        .route("/lang/{code}", web::get().to(switch_lang));
}

struct LoginLabels {
    title: &'static str,
    username: &'static str,
    password: &'static str,
    submit: &'static str,
    subtitle: &'static str,
}

const ZH: LoginLabels = LoginLabels {
    title: "登录",
    username: "用户名",
    password: "密码",
    submit: "登录",
    subtitle: "企业级 AI 模型管理平台",
};
const EN: LoginLabels = LoginLabels {
    title: "Sign in",
    username: "Username",
    password: "Password",
    submit: "Sign in",
    subtitle: "Enterprise AI model gateway",
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: &'static LoginLabels,
    lang_code: &'static str,
    is_en: bool,
    csrf: String,
    username: String,
    error: Option<String>,
}

/// Login form fields.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf_token: String,
}

fn render_login(
    req: &HttpRequest,
    username: String,
    error: Option<String>,
    status: u16,
) -> Result<HttpResponse, PageError> {
    let lang = lang_of(req);
    let csrf = random_base62(32);
    let page = LoginPage {
        t: lang.pick(&ZH, &EN),
        lang_code: lang.html_code(),
        is_en: lang == Lang::En,
        csrf: csrf.clone(),
        username,
        error,
    };
    let mut resp = html(&page, status)?;
    let cookie = Cookie::build(LOGIN_CSRF_COOKIE, csrf)
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(over_https(req))
        .finish();
    resp.add_cookie(&cookie).map_err(|_| PageError::Internal)?;
    Ok(resp)
}

async fn show(req: HttpRequest) -> Result<HttpResponse, PageError> {
    render_login(&req, String::new(), None, 200)
}

async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let lang = lang_of(&req);
    let form = form.into_inner();
    let expected = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if form.csrf_token.is_empty() || !constant_time_eq(&expected, &form.csrf_token) {
        let msg = lang.pick(
            "表单已过期，请重试。",
            "The form expired; please try again.",
        );
        return render_login(&req, form.username, Some(msg.into()), 403);
    }
    let hours = state.config.server.session_hours;
    let username = form.username.trim().to_string();
    let name = username.clone();
    let client = client_address(&req);
    let result = state
        .db
        .run(move |c| auth::login(c, &name, &form.password, &client, hours))
        .await;
    let (_, session) = match result {
        Ok(ok) => ok,
        Err(DomainError::Unauthorized(_)) => {
            let msg = lang.pick("用户名或密码错误。", "Wrong username or password.");
            return render_login(&req, username, Some(msg.into()), 401);
        }
        Err(DomainError::Throttled(_)) => {
            let msg = lang.pick(
                "登录失败次数过多，请 15 分钟后再试。",
                "Too many failed logins; try again in 15 minutes.",
            );
            return render_login(&req, username, Some(msg.into()), 429);
        }
        Err(e) => return Err(e.into()),
    };
    let cookie = Cookie::build(SESSION_COOKIE, session.token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(over_https(&req))
        .max_age(CookieDuration::seconds(session.max_age_s))
        .finish();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, Url::Home.path()))
        .cookie(cookie)
        .finish())
}

async fn logout(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    if let Some(token) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()) {
        state.db.run(move |c| auth::logout(c, &token)).await?;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, Url::Login.path()))
        .cookie(gone)
        .finish())
}

/// True when the browser reached us over HTTPS (directly, or through a reverse proxy
/// that says so with `X-Forwarded-Proto` / `Forwarded`): cookies are then `Secure`.
fn over_https(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// The address a login attempt came from, for throttling: the peer, or, when the peer
/// is a reverse proxy on this host (loopback), the last `X-Forwarded-For` entry, the
/// one that proxy added. A remote peer cannot choose its address this way.
fn client_address(req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return String::new();
    };
    if peer.is_loopback() {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|last| last.trim().parse::<std::net::IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    peer.to_string()
}

/// `?next=` of the language switch.
#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

async fn switch_lang(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let lang = Lang::from_code(&path.into_inner());
    let code = lang.pick("zh", "en");
    // Only local paths, so the switch cannot be used as an open redirect.
    let next = query
        .into_inner()
        .next
        .filter(|n| is_local_path(n))
        .unwrap_or_else(|| Url::Home.path().to_string());
    let cookie = Cookie::build(LANG_COOKIE, code)
        .path("/")
        .same_site(SameSite::Lax)
        .secure(over_https(&req))
        .max_age(CookieDuration::days(365))
        .finish();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(cookie)
        .finish()
}

/// True for a path on this site. Browsers drop tabs and newlines from a URL and read
/// a backslash as a slash, so `/<tab>/host` would become `//host`: any control
/// character, space or backslash is refused, as is a second leading slash.
fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
}

/// `/` goes to the usage page once signed in.
pub async fn home(_user: SignedIn) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, Url::Usage.path()))
        .finish()
}
