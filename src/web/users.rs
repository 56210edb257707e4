//! `/users` (用户): the list, the 创建用户 form, a user's page (edit, keys), and
//! disable / enable / delete. Admins only.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::display::{self, Choice};
use super::form::{inline, Fields};
use super::i18n::{role_label, Lang};
use super::session::{Admin, PageCtx};
use super::{html, see_other, Url};
use crate::app::AppState;

use crate::domain::auth::Role;
use crate::domain::teams::{self, TeamView};
use crate::domain::users::{self, UserInput, UserPatch, UserView};
use crate::error::PageError;

mod labels;
use labels::{labels, UserLabels};

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list))
        .route("/users", web::post().to(create))
        .route("/users/{username}", web::get().to(show))
        .route("/users/{username}", web::post().to(update))
        .route(
            "/users/{username}/{action:disable|enable}",
            web::post().to(disable_or_enable),
        )
        .route("/users/{username}/delete", web::post().to(delete));
}

/// One user as a table row.
pub struct UserLine {
    pub username: String,
    pub role: &'static str,
    pub teams: String,
    pub budget: String,
    pub spent: String,
    pub keys: usize,
    pub disabled: bool,
    pub can_login: bool,
}

/// The user form's values.
pub struct UserForm {
    pub username: String,
    pub roles: Vec<Choice>,
    pub teams: Vec<Choice>,
    pub max_budget: String,
    pub periods: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    page: PageCtx,
    t: &'static UserLabels,
    rows: Vec<UserLine>,
    form: UserForm,
    open: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    page: PageCtx,
    t: &'static UserLabels,
    user: UserLine,
    keys: Vec<(String, String)>,
    form: UserForm,
    error: Option<String>,
}

/// `?new=1` opens the create form.
#[derive(Deserialize)]
pub struct ListQuery {
    new: Option<String>,
}

fn line(lang: Lang, u: &UserView) -> UserLine {
    UserLine {
        username: u.username.clone(),
        role: role_label(lang, u.role),
        teams: u
            .teams
            .iter()
            .map(|t| t.alias.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        budget: display::usd(lang, u.max_budget),
        spent: display::usd(lang, Some(u.spend)),
        keys: u.keys.len(),
        disabled: u.disabled,
        can_login: u.can_login,
    }
}

/// Values a form shows: (username, role, team_id, budget, period).
struct Values<'a>(&'a str, &'a str, &'a str, &'a str, &'a str);

fn form(lang: Lang, teams: &[TeamView], v: Values<'_>) -> UserForm {
    let roles = [
        Role::InternalUser,
        Role::ProxyAdmin,
        Role::InternalUserViewer,
    ]
    .into_iter()
    .map(|r| Choice {
        value: r.as_str().to_string(),
        label: role_label(lang, r).to_string(),
        selected: r.as_str() == v.1,
    });
    let none = Choice {
        value: String::new(),
        label: lang.pick("无", "None").to_string(),
        selected: v.2.is_empty(),
    };
    let team_choices = teams.iter().map(|t| Choice {
        value: t.team_id.clone(),
        label: t.alias.clone(),
        selected: t.team_id == v.2,
    });
    UserForm {
        username: v.0.to_string(),
        roles: roles.collect(),
        teams: std::iter::once(none).chain(team_choices).collect(),
        max_budget: v.3.to_string(),
        periods: display::period_choices(lang, v.4),
    }
}

fn form_from(lang: Lang, teams: &[TeamView], f: &Fields) -> UserForm {
    let v = Values(
        f.get("username"),
        f.get("user_role"),
        f.get("team_id"),
        f.get("max_budget"),
        f.get("budget_duration"),
    );
    form(lang, teams, v)
}

fn form_of(lang: Lang, teams: &[TeamView], u: &UserView) -> UserForm {
    let team = u.teams.first().map(|t| t.team_id.as_str()).unwrap_or("");
    let budget = display::budget_input(u.max_budget);
    let v = Values(
        &u.username,
        u.role.as_str(),
        team,
        &budget,
        display::period_value(u.period),
    );
    form(lang, teams, v)
}

async fn load(
    admin: &Admin,
    state: &AppState,
) -> Result<(Vec<UserView>, Vec<TeamView>), PageError> {
    let (actor, config) = (admin.0.actor(), state.config.clone());
    let loaded = state
        .db
        .run(move |c| {
            Ok::<_, crate::domain::DomainError>((
                users::list(c, &actor, &config)?,
                teams::list(c, &actor, &config)?,
            ))
        })
        .await?;
    Ok(loaded)
}

async fn render_list(
    admin: &Admin,
    state: &AppState,
    posted: Option<&Fields>,
    open: bool,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (all, teams) = load(admin, state).await?;
    let lang = admin.0.lang;
    let blank = Fields(vec![
        ("user_role".into(), "internal_user".into()),
        ("budget_duration".into(), "monthly".into()),
    ]);
    let page = UsersPage {
        page: admin.0.page("users", Url::Users.path()),
        t: labels(lang),
        rows: all.iter().map(|u| line(lang, u)).collect(),
        form: form_from(lang, &teams, posted.unwrap_or(&blank)),
        open: open || posted.is_some(),
        error: error.clone(),
    };
    html(&page, if error.is_some() { 400 } else { 200 })
}

async fn list(
    admin: Admin,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    render_list(&admin, &state, None, query.new.is_some(), None).await
}

async fn create(
    admin: Admin,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let f = Fields(form.into_inner());
    admin.0.check_csrf(f.get("csrf_token"))?;
    let input = UserInput {
        username: f.get("username").to_string(),
        role: f.get("user_role").to_string(),
        team_id: f.opt("team_id"),
        max_budget: f.opt("max_budget"),
        budget_duration: f.opt("budget_duration"),
        password: f.opt("password"),
    };
    let (actor, config) = (admin.0.actor(), state.config.clone());
    match state
        .write(move |c| users::create(c, &actor, &config, input))
        .await
    {
        Ok(_) => Ok(see_other(Url::Users.path())),
        Err(e) => render_list(&admin, &state, Some(&f), true, Some(inline(e)?)).await,
    }
}

async fn render_user(
    admin: &Admin,
    req: &HttpRequest,
    state: &AppState,
    name: String,
    posted: Option<&Fields>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (actor, config) = (admin.0.actor(), state.config.clone());
    let (user, teams) = state
        .db
        .run(move |c| {
            Ok::<_, crate::domain::DomainError>((
                users::info(c, &actor, &config, &name)?,
                teams::list(c, &actor, &config)?,
            ))
        })
        .await?;
    let lang = admin.0.lang;
    let page = UserPage {
        page: admin.0.page("users", req.path()),
        t: labels(lang),
        user: line(lang, &user),
        keys: user
            .keys
            .iter()
            .map(|k| (k.alias.clone(), k.masked.clone()))
            .collect(),
        form: match posted {
            Some(f) => form_from(lang, &teams, f),
            None => form_of(lang, &teams, &user),
        },
        error: error.clone(),
    };
    html(&page, if error.is_some() { 400 } else { 200 })
}

async fn show(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    render_user(&admin, &req, &state, path.into_inner(), None, None).await
}

async fn update(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let f = Fields(form.into_inner());
    admin.0.check_csrf(f.get("csrf_token"))?;
    let patch = UserPatch {
        role: Some(f.get("user_role").to_string()),
        team_id: Some(f.opt("team_id")),
        max_budget: Some(f.opt("max_budget")),
        budget_duration: Some(f.opt("budget_duration")),
        password: f.opt("password"),
    };
    let (actor, config, name) = (admin.0.actor(), state.config.clone(), path.into_inner());
    let who = name.clone();
    match state
        .write(move |c| users::update(c, &actor, &config, &who, patch))
        .await
    {
        Ok(_) => Ok(see_other(Url::Users.path())),
        Err(e) => render_user(&admin, &req, &state, name, Some(&f), Some(inline(e)?)).await,
    }
}

/// The 禁用 / 启用 buttons (`/users/{username}/disable|enable`).
async fn disable_or_enable(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (name, action) = path.into_inner();
    let disabled = action == "disable";
    set_disabled(admin, state, name, Fields(form.into_inner()), disabled).await
}

async fn set_disabled(
    admin: Admin,
    state: web::Data<AppState>,
    name: String,
    f: Fields,
    disabled: bool,
) -> Result<HttpResponse, PageError> {
    admin.0.check_csrf(f.get("csrf_token"))?;
    let (actor, config) = (admin.0.actor(), state.config.clone());
    match state
        .write(move |c| users::set_disabled(c, &actor, &config, &name, disabled))
        .await
    {
        Ok(_) => Ok(see_other(Url::Users.path())),
        Err(e) => render_list(&admin, &state, None, false, Some(inline(e)?)).await,
    }
}

async fn delete(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let f = Fields(form.into_inner());
    admin.0.check_csrf(f.get("csrf_token"))?;
    let (actor, names) = (admin.0.actor(), vec![path.into_inner()]);
    match state.write(move |c| users::delete(c, &actor, &names)).await {
        Ok(()) => Ok(see_other(Url::Users.path())),
        Err(e) => render_list(&admin, &state, None, false, Some(inline(e)?)).await,
    }
}
