//! /logs (请求日志): the request log newest first, filtered and paged by signed cursor,
//! and /logs/{request_id} with one request's details and stored bodies. Non-admins
//! see only their own requests (`domain::logs` enforces it).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::filters::{self, Menus};
use super::format::{count, datetime, latency, percent, query, usd};
use super::html;
use super::session::{PageCtx, SignedIn};
use crate::app::AppState;
use crate::config::UtcOffset;
use crate::db::logs::LogRow;
use crate::domain::logs::{self as log_domain, LogParams};
use crate::domain::usage::{self, Viewer};
use crate::domain::DomainError;
use crate::error::PageError;

/// Rows per page.
pub const PAGE_SIZE: u32 = 50;

/// Routes of this module.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs", web::get().to(list))
        .route("/logs/{request_id}", web::get().to(detail));
}

/// Labels of both log pages.
struct LogLabels {
    title: &'static str,
    time: &'static str,
    request_id: &'static str,
    model: &'static str,
    provider: &'static str,
    key: &'static str,
    user: &'static str,
    team: &'static str,
    status: &'static str,
    success: &'static str,
    failure: &'static str,
    tokens: &'static str,
    cost: &'static str,
    latency: &'static str,
    next: &'static str,
    first: &'static str,
    apply: &'static str,
    all: &'static str,
    from: &'static str,
    to: &'static str,
    no_rows: &'static str,
    start: &'static str,
    end: &'static str,
    deployment: &'static str,
    http_status: &'static str,
    error: &'static str,
    prompt_tokens: &'static str,
    completion_tokens: &'static str,
    cached_tokens: &'static str,
    total_tokens: &'static str,
    stream: &'static str,
    request_body: &'static str,
    response_body: &'static str,
    bodies_missing: &'static str,
    back: &'static str,
    yes: &'static str,
    no: &'static str,
}

const ZH: LogLabels = LogLabels {
    title: "请求日志",
    time: "时间",
    request_id: "请求 ID",
    model: "模型",
    provider: "提供商",
    key: "密钥",
    user: "用户",
    team: "分组",
    status: "状态",
    success: "成功",
    failure: "失败",
    tokens: "Token",
    cost: "费用",
    latency: "耗时",
    next: "下一页",
    first: "回到第一页",
    apply: "筛选",
    all: "全部",
    from: "开始日期",
    to: "结束日期",
    no_rows: "暂无请求记录",
    start: "开始时间",
    end: "结束时间",
    deployment: "部署",
    http_status: "HTTP 状态码",
    error: "错误信息",
    prompt_tokens: "输入 Token",
    completion_tokens: "输出 Token",
    cached_tokens: "缓存 Token",
    total_tokens: "总 Token",
    stream: "流式",
    request_body: "请求内容",
    response_body: "响应内容",
    bodies_missing: "未保存请求/响应内容（store_bodies 已关闭或请求被拒绝）",
    back: "返回请求日志",
    yes: "是",
    no: "否",
};

const EN: LogLabels = LogLabels {
    title: "Request Logs",
    time: "Time",
    request_id: "Request ID",
    model: "Model",
    provider: "Provider",
    key: "Key",
    user: "User",
    team: "Team",
    status: "Status",
    success: "Success",
    failure: "Failure",
    tokens: "Tokens",
    cost: "Cost",
    latency: "Latency",
    next: "Next page",
    first: "Back to first page",
    apply: "Filter",
    all: "All",
    from: "From",
    to: "To",
    no_rows: "No requests yet",
    start: "Start",
    end: "End",
    deployment: "Deployment",
    http_status: "HTTP status",
    error: "Error",
    prompt_tokens: "Prompt tokens",
    completion_tokens: "Completion tokens",
    cached_tokens: "Cached tokens",
    total_tokens: "Total tokens",
    stream: "Streamed",
    request_body: "Request",
    response_body: "Response",
    bodies_missing: "Bodies not stored (store_bodies is off or the request was refused)",
    back: "Back to request logs",
    yes: "yes",
    no: "no",
};

/// `/logs` query; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogsQuery {
    key_id: String,
    user_id: String,
    team_id: String,
    model: String,
    status: String,
    start_date: String,
    end_date: String,
    cursor: String,
}

impl LogsQuery {
    fn params(&self) -> LogParams<'_> {
        LogParams {
            key_id: &self.key_id,
            user_id: &self.user_id,
            team_id: &self.team_id,
            model: &self.model,
            status: &self.status,
            start_date: &self.start_date,
            end_date: &self.end_date,
        }
    }

    /// `/logs?…` with these filters and `cursor`.
    fn href(&self, cursor: &str) -> String {
        let pairs = [
            ("key_id", self.key_id.as_str()),
            ("user_id", &self.user_id),
            ("team_id", &self.team_id),
            ("model", &self.model),
            ("status", &self.status),
            ("start_date", &self.start_date),
            ("end_date", &self.end_date),
            ("cursor", cursor),
        ];
        format!("/logs{}", query(&pairs))
    }
}

/// `alias`, `(deleted #id)` or `—` for none.
fn entity_name(name: &Option<String>, id: i64) -> String {
    match (name, id) {
        (Some(n), _) => n.clone(),
        (None, 0) => "—".to_string(),
        (None, id) => format!("(deleted #{id})"),
    }
}

/// A log row as printed.
struct Line {
    request_id: String,
    href: String,
    start: String,
    end: String,
    latency: String,
    model: String,
    provider: String,
    deployment: String,
    key: String,
    user: String,
    team: String,
    ok: bool,
    http_status: i64,
    error: String,
    prompt: String,
    completion: String,
    cached: String,
    total: String,
    cost: String,
    stream: bool,
}

impl Line {
    fn of(r: &LogRow, offset: UtcOffset) -> Line {
        Line {
            request_id: r.request_id.clone(),
            href: format!("/logs/{}", percent(&r.request_id)),
            start: datetime(r.start_ms, offset),
            end: datetime(r.end_ms, offset),
            latency: latency(r.end_ms - r.start_ms),
            model: r.model.clone(),
            provider: r.provider.clone(),
            deployment: if r.deployment < 0 {
                "—".into()
            } else {
                format!("#{}", r.deployment)
            },
            key: entity_name(&r.key_alias, r.key_id),
            user: entity_name(&r.username, r.user_id),
            team: entity_name(&r.team_alias, r.team_id),
            ok: r.success,
            http_status: r.http_status,
            error: r.error.clone().unwrap_or_default(),
            prompt: count(r.prompt_tokens),
            completion: count(r.completion_tokens),
            cached: count(r.cached_tokens),
            total: count(r.prompt_tokens + r.completion_tokens),
            cost: usd(r.cost),
            stream: r.stream,
        }
    }
}

#[derive(Template)]
#[template(path = "logs.html")]
struct LogsPage {
    page: PageCtx,
    t: &'static LogLabels,
    q: LogsQuery,
    rows: Vec<Line>,
    next_href: Option<String>,
    first_href: Option<String>,
    menus: Option<Menus>,
}

fn viewer(user: &SignedIn) -> Viewer {
    Viewer {
        user_id: user.user.id,
        role: user.user.role,
    }
}

async fn list(
    user: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LogsQuery>,
) -> Result<HttpResponse, PageError> {
    let q = q.into_inner();
    let offset = state.config.server.utc_offset;
    let filter = log_domain::parse_filter(&q.params(), offset)?;
    let (viewer, cursor, admin) = (viewer(&user), q.cursor.clone(), user.user.role.is_admin());
    let (page, dir) = state
        .db
        .run(move |c| {
            let page = log_domain::page(c, viewer, filter, Some(&cursor), PAGE_SIZE)?;
            let dir = if admin {
                Some(usage::directory(c)?)
            } else {
                None
            };
            Ok::<_, DomainError>((page, dir))
        })
        .await?;
    let id = |text: &str| text.parse::<i64>().ok();
    let menus = dir.map(|d| filters::menus(&d, id(&q.team_id), id(&q.user_id), id(&q.key_id)));
    let body = LogsPage {
        page: user.page("logs", req.path()),
        t: user.lang.pick(&ZH, &EN),
        rows: page.rows.iter().map(|r| Line::of(r, offset)).collect(),
        next_href: page.next.as_deref().map(|c| q.href(c)),
        first_href: (!q.cursor.is_empty()).then(|| q.href("")),
        menus,
        q,
    };
    html(&body, 200)
}

#[derive(Template)]
#[template(path = "log_detail.html")]
struct DetailPage {
    page: PageCtx,
    t: &'static LogLabels,
    d: Line,
    request_body: Option<String>,
    response_body: Option<String>,
}

async fn detail(
    user: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let request_id = path.into_inner();
    let viewer = viewer(&user);
    let (row, request_body, response_body) = state
        .db
        .run(move |c| log_domain::detail(c, viewer, &request_id))
        .await?;
    let body = DetailPage {
        page: user.page("logs", req.path()),
        t: user.lang.pick(&ZH, &EN),
        d: Line::of(&row, state.config.server.utc_offset),
        request_body,
        response_body,
    };
    html(&body, 200)
}
