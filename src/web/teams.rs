//! `/teams` (分组): the list with budget figures, the 创建分组 form, a team's page
//! (members, keys, edit form) and delete. Admins only.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::display::{self, Choice};
use super::form::{inline, Fields};
use super::i18n::Lang;
use super::session::{Admin, PageCtx};
use super::{html, see_other, Url};
use crate::app::AppState;
use crate::config::Config;
use crate::domain::input::configured_models;
use crate::domain::teams::{self, TeamInput, TeamPatch, TeamView};
use crate::error::PageError;

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/teams", web::get().to(list))
        .route("/teams", web::post().to(create))
        .route("/teams/{team_id}", web::get().to(show))
        .route("/teams/{team_id}", web::post().to(update))
        .route("/teams/{team_id}/delete", web::post().to(delete));
}

/// Labels of the teams pages.
pub struct TeamLabels {
    pub title: &'static str,
    pub create: &'static str,
    pub name: &'static str,
    pub budget: &'static str,
    pub budget_hint: &'static str,
    pub period: &'static str,
    pub models: &'static str,
    pub all_models: &'static str,
    pub chosen_models: &'static str,
    pub confirm_create: &'static str,
    pub allocated: &'static str,
    pub spent: &'static str,
    pub remaining: &'static str,
    pub members: &'static str,
    pub keys: &'static str,
    pub resets: &'static str,
    pub never: &'static str,
    pub empty: &'static str,
    pub confirm_delete: &'static str,
    pub delete_rule: &'static str,
    pub back: &'static str,
    pub user: &'static str,
    pub key: &'static str,
}

const ZH: TeamLabels = TeamLabels {
    title: "分组",
    create: "创建分组",
    name: "分组名称",
    budget: "分组预算",
    budget_hint: "美元，留空为不限",
    period: "预算周期",
    models: "可用模型",
    all_models: "全部模型",
    chosen_models: "指定模型",
    confirm_create: "确认创建",
    allocated: "已分配",
    spent: "本期已用",
    remaining: "剩余预算",
    members: "成员",
    keys: "密钥",
    resets: "重置时间",
    never: "不重置",
    empty: "还没有分组，点击「创建分组」开始。",
    confirm_delete: "确定删除该分组吗？",
    delete_rule: "分组下还有密钥时不能删除，请先删除其密钥。",
    back: "返回分组列表",
    user: "用户",
    key: "密钥",
};

const EN: TeamLabels = TeamLabels {
    title: "Teams",
    create: "Create team",
    name: "Team name",
    budget: "Team budget",
    budget_hint: "USD, empty = unlimited",
    period: "Budget period",
    models: "Allowed models",
    all_models: "All models",
    chosen_models: "Selected models",
    confirm_create: "Create",
    allocated: "Allocated",
    spent: "Spent this period",
    remaining: "Remaining",
    members: "Members",
    keys: "Keys",
    resets: "Resets",
    never: "Never",
    empty: "No teams yet; use “Create team” to add one.",
    confirm_delete: "Delete this team?",
    delete_rule: "A team that still has keys cannot be deleted; delete its keys first.",
    back: "Back to teams",
    user: "User",
    key: "Key",
};

/// One team as a table row.
pub struct TeamLine {
    pub team_id: String,
    pub alias: String,
    pub budget: String,
    pub period: &'static str,
    pub allocated: String,
    pub spent: String,
    pub remaining: String,
    pub resets: String,
    pub members: String,
    pub keys: usize,
    pub models: String,
}

/// A key as listed on a team's page.
pub struct TeamKeyLine {
    pub alias: String,
    pub masked: String,
    pub user: String,
    pub budget: String,
}

/// The team form's values.
pub struct TeamForm {
    pub alias: String,
    pub max_budget: String,
    pub periods: Vec<Choice>,
    pub all_models: bool,
    pub models: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "teams.html")]
struct TeamsPage {
    page: PageCtx,
    t: &'static TeamLabels,
    rows: Vec<TeamLine>,
    form: TeamForm,
    open: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    page: PageCtx,
    t: &'static TeamLabels,
    team: TeamLine,
    members: Vec<String>,
    keys: Vec<TeamKeyLine>,
    form: TeamForm,
    error: Option<String>,
}

/// `?new=1` opens the create form.
#[derive(Deserialize)]
pub struct ListQuery {
    new: Option<String>,
}

fn labels(lang: Lang) -> &'static TeamLabels {
    lang.pick(&ZH, &EN)
}

fn line(lang: Lang, config: &Config, t: &TeamView) -> TeamLine {
    let tl = labels(lang);
    TeamLine {
        team_id: t.team_id.clone(),
        alias: t.alias.clone(),
        budget: display::usd(lang, t.max_budget),
        period: display::period(lang, t.period),
        allocated: display::usd(lang, Some(t.allocated)),
        spent: display::usd(lang, Some(t.spend)),
        remaining: display::usd(lang, t.remaining),
        resets: display::when(t.reset_at, config.server.utc_offset, tl.never),
        members: t.members.join(", "),
        keys: t.keys.len(),
        models: display::models(lang, &t.models),
    }
}

fn form_from(config: &Config, lang: Lang, f: &Fields) -> TeamForm {
    let chosen = f.models();
    TeamForm {
        alias: f.get("team_alias").to_string(),
        max_budget: f.get("max_budget").to_string(),
        periods: display::period_choices(lang, f.get("budget_duration")),
        all_models: chosen.is_empty(),
        models: display::model_choices(&configured_models(config), &chosen),
    }
}

fn form_of(config: &Config, lang: Lang, t: &TeamView) -> TeamForm {
    TeamForm {
        alias: t.alias.clone(),
        max_budget: display::budget_input(t.max_budget),
        periods: display::period_choices(lang, display::period_value(t.period)),
        all_models: t.models.is_empty(),
        models: display::model_choices(&configured_models(config), &t.models),
    }
}

fn blank_form(config: &Config, lang: Lang) -> TeamForm {
    form_from(
        config,
        lang,
        &Fields(vec![("budget_duration".into(), "monthly".into())]),
    )
}

async fn render_list(
    admin: &Admin,
    state: &AppState,
    form: Option<TeamForm>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (actor, config) = (admin.0.actor(), state.config.clone());
    let all = state
        .db
        .run(move |c| teams::list(c, &actor, &config))
        .await?;
    let lang = admin.0.lang;
    let open = form.is_some();
    let page = TeamsPage {
        page: admin.0.page("teams", Url::Teams.path()),
        t: labels(lang),
        rows: all.iter().map(|t| line(lang, &state.config, t)).collect(),
        form: form.unwrap_or_else(|| blank_form(&state.config, lang)),
        open,
        error: error.clone(),
    };
    html(&page, if error.is_some() { 400 } else { 200 })
}

async fn list(
    admin: Admin,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let form = query
        .new
        .as_ref()
        .map(|_| blank_form(&state.config, admin.0.lang));
    render_list(&admin, &state, form, None).await
}

async fn create(
    admin: Admin,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let f = Fields(form.into_inner());
    admin.0.check_csrf(f.get("csrf_token"))?;
    let input = TeamInput {
        alias: f.get("team_alias").to_string(),
        max_budget: f.opt("max_budget"),
        budget_duration: f.opt("budget_duration"),
        models: f.models(),
    };
    let (actor, config) = (admin.0.actor(), state.config.clone());
    match state
        .write(move |c| teams::create(c, &actor, &config, input))
        .await
    {
        Ok(_) => Ok(see_other(Url::Teams.path())),
        Err(e) => {
            let form = form_from(&state.config, admin.0.lang, &f);
            render_list(&admin, &state, Some(form), Some(inline(e)?)).await
        }
    }
}

async fn render_team(
    admin: &Admin,
    req: &HttpRequest,
    state: &AppState,
    team_id: String,
    form: Option<TeamForm>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (actor, config) = (admin.0.actor(), state.config.clone());
    let team = state
        .db
        .run(move |c| teams::info(c, &actor, &config, &team_id))
        .await?;
    let lang = admin.0.lang;
    let keys = team.keys.iter().map(|k| TeamKeyLine {
        alias: k.alias.clone(),
        masked: k.masked.clone(),
        user: k.user.clone().unwrap_or_default(),
        budget: display::usd(lang, k.max_budget),
    });
    let page = TeamPage {
        page: admin.0.page("teams", req.path()),
        t: labels(lang),
        team: line(lang, &state.config, &team),
        members: team.members.clone(),
        keys: keys.collect(),
        form: form.unwrap_or_else(|| form_of(&state.config, lang, &team)),
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
    render_team(&admin, &req, &state, path.into_inner(), None, None).await
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
    let team_id = path.into_inner();
    let patch = TeamPatch {
        alias: Some(f.get("team_alias").to_string()),
        max_budget: Some(f.opt("max_budget")),
        budget_duration: Some(f.opt("budget_duration")),
        models: Some(f.models()),
    };
    let (actor, config, id) = (admin.0.actor(), state.config.clone(), team_id.clone());
    match state
        .write(move |c| teams::update(c, &actor, &config, &id, patch))
        .await
    {
        Ok(_) => Ok(see_other(Url::Teams.path())),
        Err(e) => {
            let form = form_from(&state.config, admin.0.lang, &f);
            render_team(&admin, &req, &state, team_id, Some(form), Some(inline(e)?)).await
        }
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
    let (actor, ids) = (admin.0.actor(), vec![path.into_inner()]);
    match state.write(move |c| teams::delete(c, &actor, &ids)).await {
        Ok(()) => Ok(see_other(Url::Teams.path())),
        Err(e) => render_list(&admin, &state, None, Some(inline(e)?)).await,
    }
}
