//! `/virtual-keys` (API密钥): the keys the user may see, the 生成密钥 form, the
//! one-time display of a new secret, and block / unblock / regenerate / edit / delete.
//! Admins see every key; other roles see their own (read-only users change nothing).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::form::{inline, Fields};
use super::session::{PageCtx, SignedIn};
use super::{html, see_other, Url};
use crate::app::AppState;
use crate::domain::auth::Role;
use crate::domain::keys::{self, KeyPatch, NewKey, OwnerChoices};
use crate::domain::DomainError;
use crate::error::PageError;

mod labels;
mod rows;
use labels::{labels, KeyLabels};
use rows::{blank, expiry_of, fields_of, form, key_input, line, KeyForm, KeyLine};

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/virtual-keys", web::get().to(list))
        .route("/virtual-keys", web::post().to(generate))
        .route("/virtual-keys/{token}", web::get().to(show))
        .route("/virtual-keys/{token}", web::post().to(update))
        .route(
            "/virtual-keys/{token}/{action:block|unblock|delete}",
            web::post().to(row_button),
        )
        .route(
            "/virtual-keys/{token}/regenerate",
            web::post().to(regenerate),
        );
}

#[derive(Template)]
#[template(path = "virtual_keys.html")]
struct KeysPage {
    page: PageCtx,
    t: &'static KeyLabels,
    rows: Vec<KeyLine>,
    form: KeyForm,
    can_create: bool,
    is_admin: bool,
    open: bool,
    error: Option<String>,
    new_key: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "virtual_key.html")]
struct KeyPage {
    page: PageCtx,
    t: &'static KeyLabels,
    key: KeyLine,
    form: KeyForm,
    error: Option<String>,
}

/// `?new=1` opens the generate form.
#[derive(Deserialize)]
pub struct ListQuery {
    new: Option<String>,
}

/// What the list page shows besides the table.
struct ListState<'a> {
    posted: Option<&'a Fields>,
    open: bool,
    error: Option<String>,
    new_key: Option<NewKey>,
}

async fn render_list(
    user: &SignedIn,
    state: &AppState,
    s: ListState<'_>,
) -> Result<HttpResponse, PageError> {
    let (actor, config) = (user.actor(), state.config.clone());
    let (all, owners) = state
        .db
        .run(move |c| {
            Ok::<_, DomainError>((
                keys::list(c, &actor, &config)?,
                keys::owner_choices(c, &actor)?,
            ))
        })
        .await?;
    let lang = user.lang;
    let blank = blank(user);
    let page = KeysPage {
        page: user.page("keys", Url::Keys.path()),
        t: labels(lang),
        rows: all.iter().map(|k| line(lang, &state.config, k)).collect(),
        form: form(
            lang,
            &state.config,
            &owners,
            s.posted.unwrap_or(&blank),
            false,
        ),
        can_create: user.user.role != Role::InternalUserViewer,
        is_admin: user.user.role.is_admin(),
        open: s.open || s.posted.is_some(),
        error: s.error.clone(),
        new_key: s.new_key.map(|k| (k.secret, k.view.alias)),
    };
    html(&page, if s.error.is_some() { 400 } else { 200 })
}

async fn list(
    user: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let s = ListState {
        posted: None,
        open: query.new.is_some(),
        error: None,
        new_key: None,
    };
    render_list(&user, &state, s).await
}

async fn generate(
    user: SignedIn,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let f = Fields(form.into_inner());
    user.check_csrf(f.get("csrf_token"))?;
    let input = key_input(&f);
    let (actor, config) = (user.actor(), state.config.clone());
    match state
        .write(move |c| keys::generate(c, &actor, &config, input))
        .await
    {
        Ok(new) => {
            let s = ListState {
                posted: None,
                open: false,
                error: None,
                new_key: Some(new),
            };
            render_list(&user, &state, s).await
        }
        Err(e) => {
            let s = ListState {
                posted: Some(&f),
                open: true,
                error: Some(inline(e)?),
                new_key: None,
            };
            render_list(&user, &state, s).await
        }
    }
}

async fn render_key(
    user: &SignedIn,
    req: &HttpRequest,
    state: &AppState,
    token: String,
    posted: Option<&Fields>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (actor, config) = (user.actor(), state.config.clone());
    actor_must_admin(user)?;
    let key = state
        .db
        .run(move |c| keys::info(c, &actor, &config, &token))
        .await?;
    let lang = user.lang;
    let own = fields_of(&key);
    let page = KeyPage {
        page: user.page("keys", req.path()),
        t: labels(lang),
        key: line(lang, &state.config, &key),
        form: form(
            lang,
            &state.config,
            &OwnerChoices::default(),
            posted.unwrap_or(&own),
            true,
        ),
        error: error.clone(),
    };
    html(&page, if error.is_some() { 400 } else { 200 })
}

fn actor_must_admin(user: &SignedIn) -> Result<(), PageError> {
    if user.user.role.is_admin() {
        return Ok(());
    }
    Err(PageError::Forbidden)
}

async fn show(
    user: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    render_key(&user, &req, &state, path.into_inner(), None, None).await
}

async fn update(
    user: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let f = Fields(form.into_inner());
    user.check_csrf(f.get("csrf_token"))?;
    let patch = KeyPatch {
        alias: Some(f.get("key_alias").to_string()),
        max_budget: Some(f.opt("max_budget")),
        budget_duration: Some(f.opt("budget_duration")),
        models: Some(f.models()),
        expiry: expiry_of(&f),
    };
    let (actor, config, token) = (user.actor(), state.config.clone(), path.into_inner());
    let which = token.clone();
    match state
        .write(move |c| keys::update(c, &actor, &config, &which, patch))
        .await
    {
        Ok(_) => Ok(see_other(Url::Keys.path())),
        Err(e) => render_key(&user, &req, &state, token, Some(&f), Some(inline(e)?)).await,
    }
}

/// What a row button does.
#[derive(Clone, Copy)]
enum RowAction {
    Block,
    Unblock,
    Delete,
}

/// The 禁用 / 启用 / 删除 buttons of a row (`/virtual-keys/{token}/{action}`).
async fn row_button(
    user: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (token, action) = path.into_inner();
    let action = match action.as_str() {
        "block" => RowAction::Block,
        "unblock" => RowAction::Unblock,
        _ => RowAction::Delete,
    };
    row_action(user, state, token, Fields(form.into_inner()), action).await
}

async fn row_action(
    user: SignedIn,
    state: web::Data<AppState>,
    token: String,
    f: Fields,
    action: RowAction,
) -> Result<HttpResponse, PageError> {
    user.check_csrf(f.get("csrf_token"))?;
    let (actor, config) = (user.actor(), state.config.clone());
    let done = state
        .write(move |c| match action {
            RowAction::Block => keys::set_blocked(c, &actor, &config, &token, true).map(|_| ()),
            RowAction::Unblock => keys::set_blocked(c, &actor, &config, &token, false).map(|_| ()),
            RowAction::Delete => keys::delete(c, &actor, &[token]),
        })
        .await;
    match done {
        Ok(()) => Ok(see_other(Url::Keys.path())),
        Err(e) => {
            let s = ListState {
                posted: None,
                open: false,
                error: Some(inline(e)?),
                new_key: None,
            };
            render_list(&user, &state, s).await
        }
    }
}

async fn regenerate(
    user: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let f = Fields(form.into_inner());
    user.check_csrf(f.get("csrf_token"))?;
    let (actor, config, token) = (user.actor(), state.config.clone(), path.into_inner());
    let new = state
        .write(move |c| keys::regenerate(c, &actor, &config, &token))
        .await?;
    let s = ListState {
        posted: None,
        open: false,
        error: None,
        new_key: Some(new),
    };
    render_list(&user, &state, s).await
}
