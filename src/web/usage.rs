//! /usage (用量分析): totals, per-model breakdown, top teams/keys/users and the daily
//! spend chart for a view (实时视图 = today, refreshed live; 今日视图; 本周; 本月; custom),
//! plus `/usage/summary`, the JSON the live view polls. Numbers come from
//! `domain::usage`, which reads the hourly rollups.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::chart::{self, BarChart};
use super::export::{self, ExportDialog};
use super::filters::{self, Menus};
use super::format::{count, query, usd};
use super::html;
use super::session::{PageCtx, SignedIn};
use crate::app::AppState;
use crate::db::names::Directory;
use crate::db::rollups::{RollupFilter, Sums};
use crate::domain::reports::{DateRange, Preset};
use crate::domain::usage::{self, Named, UsageReport, Viewer};
use crate::domain::DomainError;
use crate::error::{AppError, PageError};

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/usage", web::get().to(show))
        .route("/usage/summary", web::get().to(summary))
        .route("/usage/export", web::get().to(export::download));
}

/// Query of /usage and /usage/summary; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UsageQuery {
    view: String,
    start_date: String,
    end_date: String,
    team_id: String,
    user_id: String,
    key_id: String,
    model: String,
}

const VIEWS: [&str; 5] = ["live", "today", "week", "month", "custom"];

/// What the query selects: a view, its range and the filter.
struct Selection {
    view: &'static str,
    range: DateRange,
    filter: RollupFilter,
}

fn select(q: &UsageQuery, state: &AppState) -> Result<Selection, DomainError> {
    let offset = state.config.server.utc_offset;
    let asked = if q.view.is_empty() {
        "live"
    } else {
        q.view.as_str()
    };
    let view = VIEWS.into_iter().find(|v| *v == asked).ok_or_else(|| {
        DomainError::invalid("view", format!("view must be one of {}", VIEWS.join(", ")))
    })?;
    let preset = |p| DateRange::preset(p, Utc::now(), offset);
    let range = match view {
        "week" => preset(Preset::ThisWeek),
        "month" => preset(Preset::ThisMonth),
        "custom" => DateRange::parse(
            &q.start_date,
            &q.end_date,
            state.config.server.max_report_days,
        )?,
        _ => preset(Preset::Today),
    };
    let filter = usage::parse_filter(&q.key_id, &q.user_id, &q.team_id, &q.model)?;
    Ok(Selection {
        view,
        range,
        filter,
    })
}

fn viewer(user: &SignedIn) -> Viewer {
    Viewer {
        user_id: user.user.id,
        role: user.user.role,
    }
}

/// Page labels.
struct UsageLabels {
    title: &'static str,
    views: [&'static str; 5],
    live_hint: &'static str,
    from: &'static str,
    to: &'static str,
    apply: &'static str,
    all: &'static str,
    total_spend: &'static str,
    requests: &'static str,
    successes: &'static str,
    failures: &'static str,
    tokens_title: &'static str,
    prompt_tokens: &'static str,
    completion_tokens: &'static str,
    total_tokens: &'static str,
    by_model: &'static str,
    model: &'static str,
    spend: &'static str,
    tokens: &'static str,
    daily_chart: &'static str,
    top_teams: &'static str,
    top_keys: &'static str,
    top_users: &'static str,
    team: &'static str,
    user: &'static str,
    key: &'static str,
    no_data: &'static str,
    export: &'static str,
}

const ZH: UsageLabels = UsageLabels {
    title: "用量分析",
    views: ["实时视图", "今日视图", "本周", "本月", "自定义"],
    live_hint: "每 5 秒自动刷新",
    from: "开始日期",
    to: "结束日期",
    apply: "查询",
    all: "全部",
    total_spend: "总消费金额",
    requests: "总请求次数",
    successes: "成功请求数",
    failures: "失败请求数",
    tokens_title: "Token 用量统计",
    prompt_tokens: "输入 Token",
    completion_tokens: "输出 Token",
    total_tokens: "总 Token",
    by_model: "按模型分类的消费明细",
    model: "模型",
    spend: "消费金额",
    tokens: "Token 数",
    daily_chart: "每日消费",
    top_teams: "分组消费排行",
    top_keys: "密钥消费排行",
    top_users: "用户消费排行",
    team: "分组",
    user: "用户",
    key: "密钥",
    no_data: "该时间范围内暂无用量",
    export: "导出",
};

const EN: UsageLabels = UsageLabels {
    title: "Usage",
    views: ["Live", "Today", "This week", "This month", "Custom"],
    live_hint: "Refreshes every 5 seconds",
    from: "From",
    to: "To",
    apply: "Show",
    all: "All",
    total_spend: "Total spend",
    requests: "Total requests",
    successes: "Successful requests",
    failures: "Failed requests",
    tokens_title: "Token usage",
    prompt_tokens: "Prompt tokens",
    completion_tokens: "Completion tokens",
    total_tokens: "Total tokens",
    by_model: "Spend by model",
    model: "Model",
    spend: "Spend",
    tokens: "Tokens",
    daily_chart: "Daily spend",
    top_teams: "Top teams",
    top_keys: "Top keys",
    top_users: "Top users",
    team: "Team",
    user: "User",
    key: "Key",
    no_data: "No usage in this range",
    export: "Export",
};

/// A view tab.
struct Tab {
    label: &'static str,
    href: String,
    active: bool,
}

/// Totals as printed.
struct Stats {
    spend: String,
    requests: String,
    successes: String,
    failures: String,
    prompt: String,
    completion: String,
    total: String,
}

impl Stats {
    fn of(s: &Sums) -> Stats {
        Stats {
            spend: usd(s.spend),
            requests: count(s.requests),
            successes: count(s.successes),
            failures: count(s.failures),
            prompt: count(s.prompt_tokens),
            completion: count(s.completion_tokens),
            total: count(s.total_tokens()),
        }
    }
}

/// A breakdown row as printed.
struct Line {
    name: String,
    none: bool,
    detail: String,
    spend: String,
    requests: String,
    tokens: String,
}

impl Line {
    fn of(name: &str, detail: &str, none: bool, s: &Sums) -> Line {
        Line {
            name: name.to_string(),
            none,
            detail: detail.to_string(),
            spend: usd(s.spend),
            requests: count(s.requests),
            tokens: count(s.total_tokens()),
        }
    }

    fn named(n: &Named) -> Line {
        Line::of(&n.name, &n.public_id, n.id == 0, &n.sums)
    }
}

/// A top-N table (teams, keys, users).
struct Board {
    title: &'static str,
    head: &'static str,
    rows: Vec<Line>,
}

#[derive(Template)]
#[template(path = "usage.html")]
struct UsagePage {
    page: PageCtx,
    t: &'static UsageLabels,
    tabs: Vec<Tab>,
    view: &'static str,
    live_url: String,
    start_date: String,
    end_date: String,
    stats: Stats,
    models: Vec<Line>,
    boards: Vec<Board>,
    chart: BarChart,
    menus: Option<Menus>,
    model: String,
    export: Option<ExportDialog>,
}

fn filter_pairs(f: &RollupFilter) -> Vec<(&'static str, String)> {
    let id = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    vec![
        ("team_id", id(f.team_id)),
        ("user_id", id(f.user_id)),
        ("key_id", id(f.key_id)),
        ("model", f.model.clone().unwrap_or_default()),
    ]
}

fn href(path: &str, view: &str, sel: &Selection) -> String {
    let mut pairs = vec![("view", view.to_string())];
    if view == "custom" {
        pairs.push(("start_date", sel.range.start.to_string()));
        pairs.push(("end_date", sel.range.end.to_string()));
    }
    pairs.extend(filter_pairs(&sel.filter));
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    format!("{path}{}", query(&refs))
}

fn boards(t: &'static UsageLabels, r: &UsageReport) -> Vec<Board> {
    let rows = |named: &[Named]| named.iter().map(Line::named).collect();
    vec![
        Board {
            title: t.top_teams,
            head: t.team,
            rows: rows(&r.teams),
        },
        Board {
            title: t.top_keys,
            head: t.key,
            rows: rows(&r.keys),
        },
        Board {
            title: t.top_users,
            head: t.user,
            rows: rows(&r.users),
        },
    ]
}

fn tabs(t: &'static UsageLabels, sel: &Selection) -> Vec<Tab> {
    VIEWS
        .iter()
        .zip(t.views)
        .map(|(v, label)| Tab {
            label,
            href: href("/usage", v, sel),
            active: *v == sel.view,
        })
        .collect()
}

fn build_page(
    user: &SignedIn,
    req: &HttpRequest,
    sel: &Selection,
    r: &UsageReport,
    dir: &Directory,
    state: &AppState,
) -> UsagePage {
    let t = user.lang.pick(&ZH, &EN);
    let is_admin = user.user.role.is_admin();
    let daily: Vec<_> = r.daily.iter().map(|(d, s)| (*d, s.spend)).collect();
    UsagePage {
        page: user.page("usage", req.path()),
        t,
        tabs: tabs(t, sel),
        view: sel.view,
        live_url: href("/usage/summary", sel.view, sel),
        start_date: sel.range.start.to_string(),
        end_date: sel.range.end.to_string(),
        stats: Stats::of(&r.totals),
        models: r
            .by_model
            .iter()
            .map(|(m, s)| Line::of(m, "", false, s))
            .collect(),
        boards: boards(t, r),
        chart: chart::daily_spend(&daily),
        menus: is_admin.then(|| {
            let f = &sel.filter;
            filters::menus(dir, f.team_id, f.user_id, f.key_id)
        }),
        model: sel.filter.model.clone().unwrap_or_default(),
        export: is_admin.then(|| export::dialog(user.lang, state.config.server.utc_offset)),
    }
}

async fn show(
    user: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<UsageQuery>,
) -> Result<HttpResponse, PageError> {
    let sel = select(&q, &state)?;
    let (viewer, offset) = (viewer(&user), state.config.server.utc_offset);
    let (range, filter) = (sel.range, sel.filter.clone());
    let (report, dir) = state
        .db
        .run(move |c| {
            let report = usage::report(c, viewer, range, offset, filter)?;
            Ok::<_, DomainError>((report, usage::directory(c)?))
        })
        .await?;
    html(&build_page(&user, &req, &sel, &report, &dir, &state), 200)
}

/// `/usage/summary`: the totals and per-model rows of a view as JSON — raw numbers for
/// scripts, and `display` strings the live view writes into the page.
async fn summary(
    user: SignedIn,
    state: web::Data<AppState>,
    q: web::Query<UsageQuery>,
) -> Result<HttpResponse, AppError> {
    let sel = select(&q, &state)?;
    let (viewer, offset) = (viewer(&user), state.config.server.utc_offset);
    let (range, filter) = (sel.range, sel.filter);
    let r = state
        .db
        .run(move |c| usage::report(c, viewer, range, offset, filter))
        .await?;
    let sums = |s: &Sums| {
        json!({"spend": s.spend.as_usd_f64(), "spend_nanos": s.spend.0, "requests": s.requests,
               "successes": s.successes, "failures": s.failures, "prompt_tokens": s.prompt_tokens,
               "completion_tokens": s.completion_tokens, "total_tokens": s.total_tokens()})
    };
    let models: Vec<_> = r
        .by_model
        .iter()
        .map(|(m, s)| json!({"model": m, "usage": sums(s)}))
        .collect();
    let st = Stats::of(&r.totals);
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "start_date": r.range.start.to_string(), "end_date": r.range.end.to_string(),
            "totals": sums(&r.totals), "by_model": models,
            "display": {"spend": st.spend, "requests": st.requests, "successes": st.successes,
                        "failures": st.failures, "prompt_tokens": st.prompt,
                        "completion_tokens": st.completion, "total_tokens": st.total},
        })))
}
