//! 密钥调试 (`/test-key`): paste a key and see whether it works now and why not, with
//! everything the gateway knows about it; then send a test message through the real
//! proxy and see the reply, tokens, cost, latency and the key's new remaining budget —
//! or the error exactly as a client would get it. The secret is never echoed back.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::display;
use super::html;
use super::i18n::Lang;
use super::session::{PageCtx, SignedIn};
use crate::app::AppState;
use crate::domain::budget::BudgetPeriod;
use crate::domain::directory::KeyRefusal;
use crate::domain::key_report::{self, BudgetLine, KeyReport, Problem};
use crate::error::PageError;

/// Routes of this page.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/test-key", web::get().to(show))
        .route("/test-key", web::post().to(submit));
}

/// Page labels.
pub struct Labels {
    pub title: &'static str,
    pub intro: &'static str,
    pub key: &'static str,
    pub check: &'static str,
    pub model: &'static str,
    pub message: &'static str,
    pub send: &'static str,
    pub works: &'static str,
    pub broken: &'static str,
    pub unknown: &'static str,
    pub alias: &'static str,
    pub owner: &'static str,
    pub team: &'static str,
    pub models: &'static str,
    pub all_models: &'static str,
    pub expires: &'static str,
    pub never: &'static str,
    pub limits: &'static str,
    pub budget: &'static str,
    pub spent: &'static str,
    pub reserved: &'static str,
    pub remaining: &'static str,
    pub resets: &'static str,
    pub no_budget: &'static str,
    pub reply: &'static str,
    pub tokens: &'static str,
    pub cost: &'static str,
    pub latency: &'static str,
    pub key_remaining: &'static str,
    pub error: &'static str,
    pub paste_again: &'static str,
}

const ZH: Labels = Labels {
    title: "密钥调试", intro: "粘贴一个 API 密钥，查看它现在能否使用、为什么，以及它的预算和限制；也可以用它发送一条测试消息。",
    key: "API 密钥", check: "检查密钥", model: "模型", message: "测试消息", send: "发送测试消息",
    works: "此密钥当前可用", broken: "此密钥当前不可用", unknown: "未知密钥：网关中没有这个密钥",
    alias: "密钥别名", owner: "关联用户", team: "关联分组", models: "可用模型", all_models: "全部模型",
    expires: "有效期至", never: "永久", limits: "速率限制", budget: "预算", spent: "本期已用", reserved: "进行中预留",
    remaining: "剩余", resets: "重置时间", no_budget: "此密钥、其用户和分组均未设置预算。", reply: "回复", tokens: "Token",
    cost: "费用 (USD)", latency: "耗时", key_remaining: "密钥剩余预算 (USD)", error: "错误（客户端收到的内容）",
    paste_again: "出于安全考虑，密钥不会回显；再次测试请重新粘贴。",
};

const EN: Labels = Labels {
    title: "Key Debugger", intro: "Paste an API key to see whether it works now, why not, and its budgets and limits; then send a test message with it.",
    key: "API key", check: "Check key", model: "Model", message: "Test message", send: "Send test message",
    works: "This key works right now", broken: "This key does not work right now", unknown: "Unknown key: the gateway has no such key",
    alias: "Alias", owner: "User", team: "Team", models: "Models", all_models: "All models",
    expires: "Expires", never: "Never", limits: "Rate limits", budget: "Budget", spent: "Spent this period", reserved: "Reserved in flight",
    remaining: "Remaining", resets: "Resets at", no_budget: "Neither the key, its user nor its team has a budget.", reply: "Reply", tokens: "Tokens",
    cost: "Cost (USD)", latency: "Latency", key_remaining: "Key budget left (USD)", error: "Error (as the client gets it)",
    paste_again: "For safety the key is never shown again; paste it again to run another test.",
};

/// A budget line, formatted.
pub struct BudgetRow {
    pub kind: &'static str,
    pub name: String,
    pub limit: String,
    pub spent: String,
    pub reserved: String,
    pub remaining: String,
    pub resets: String,
}

/// The inspection, formatted for the template.
pub struct ReportView {
    pub problem: Option<String>,
    pub alias: String,
    pub masked: String,
    pub owner: String,
    pub team: String,
    pub models: String,
    pub expires: String,
    pub limits: String,
    pub budgets: Vec<BudgetRow>,
}

/// The result of a test message.
pub struct SendView {
    pub status: u16,
    pub reply: Option<String>,
    pub error: Option<String>,
    pub tokens: String,
    pub cost: String,
    pub latency_ms: u128,
    pub key_remaining: String,
}

#[derive(Template)]
#[template(path = "test_key.html")]
struct TestKeyPage {
    page: PageCtx,
    t: &'static Labels,
    models: Vec<String>,
    unknown: bool,
    report: Option<ReportView>,
    sent: Option<SendView>,
    chosen_model: String,
    message: String,
}

/// The form.
#[derive(Deserialize)]
pub struct TestKeyForm {
    csrf_token: String,
    key: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    action: String,
}

fn when(t: Option<chrono::DateTime<Utc>>, none: &str) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| none.to_string())
}

/// Why the key does not work, in the page's language.
fn problem_text(r: &KeyReport, lang: Lang) -> Option<String> {
    let text = match r.problem.as_ref()? {
        Problem::Refused(KeyRefusal::Blocked) => lang
            .pick(
                "密钥已被管理员禁用 (blocked)",
                "blocked by an administrator",
            )
            .into(),
        Problem::Refused(KeyRefusal::Expired) => lang
            .pick("密钥已过期 (expired)", "the key has expired")
            .into(),
        Problem::Refused(KeyRefusal::UserDisabled) => lang
            .pick("密钥所属用户已被停用", "the key's user is disabled")
            .into(),
        Problem::Refused(KeyRefusal::Unknown) => lang.pick("未知密钥", "unknown key").into(),
        Problem::BudgetSpent(i) => {
            let b = r.budgets.get(*i)?;
            let who = match (b.kind, lang) {
                ("key", Lang::Zh) => "密钥",
                ("user", Lang::Zh) => "用户",
                (_, Lang::Zh) => "分组",
                (kind, Lang::En) => kind,
            };
            let (spent, limit) = (b.spent.format_usd(6), b.limit.format_usd(2));
            match lang {
                Lang::Zh => format!(
                    "{who} {} 的预算已用完（已用 ${spent} / 预算 ${limit}）",
                    b.name
                ),
                Lang::En => format!(
                    "the {who} budget of {} is spent (${spent} of ${limit})",
                    b.name
                ),
            }
        }
    };
    Some(text)
}

fn view(r: KeyReport, t: &Labels, lang: Lang) -> ReportView {
    let dash = "—".to_string();
    ReportView {
        problem: problem_text(&r, lang),
        alias: r.alias,
        masked: r.masked,
        owner: r.owner.unwrap_or_else(|| dash.clone()),
        team: r.team.unwrap_or(dash),
        models: if r.models.is_empty() {
            t.all_models.to_string()
        } else {
            r.models.join(", ")
        },
        expires: when(r.expires_at, t.never),
        limits: format!(
            "rpm {} · tpm {}",
            r.rpm.map_or("∞".into(), |v| v.to_string()),
            r.tpm.map_or("∞".into(), |v| v.to_string())
        ),
        budgets: r.budgets.into_iter().map(|b| budget_row(b, lang)).collect(),
    }
}

/// One budget line in the page's language: 密钥/用户/分组, `$20.00 / 月`, `$0.000769`.
fn budget_row(b: BudgetLine, lang: Lang) -> BudgetRow {
    let kind = match b.kind {
        "key" => lang.pick("密钥", "Key"),
        "user" => lang.pick("用户", "User"),
        _ => lang.pick("分组", "Team"),
    };
    let limit = match BudgetPeriod::parse(b.period) {
        Ok(BudgetPeriod::Lifetime) | Err(_) => format!("${}", b.limit),
        Ok(p) => format!("${} / {}", b.limit, display::period(lang, p)),
    };
    BudgetRow {
        kind,
        name: b.name,
        limit,
        spent: format!("${}", b.spent.format_usd(6)),
        reserved: format!("${}", b.reserved.format_usd(6)),
        remaining: format!("${}", b.remaining.format_usd(6)),
        resets: when(b.resets_at, "—"),
    }
}

async fn show(
    user: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let t = user.lang.pick(&ZH, &EN);
    let models = state.router.names().to_vec();
    let chosen_model = models.first().cloned().unwrap_or_default();
    let page = TestKeyPage {
        page: user.page("test_key", req.path()),
        t,
        models,
        unknown: false,
        report: None,
        sent: None,
        chosen_model,
        message: user.lang.pick("1+1等于几？", "What is 1+1?").into(),
    };
    html(&page, 200)
}

async fn submit(
    user: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    http: web::Data<awc::Client>,
    form: web::Form<TestKeyForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    user.check_csrf(&form.csrf_token)?;
    let t = user.lang.pick(&ZH, &EN);
    let s = &state.config.server;
    let report = key_report::inspect(
        &state.directory,
        &state.budgets,
        s.utc_offset,
        &form.key,
        Utc::now(),
    )
    .ok();
    let sent = if form.action == "send" && !form.key.trim().is_empty() {
        Some(send(&state, &http, &form).await)
    } else {
        None
    };
    let page = TestKeyPage {
        page: user.page("test_key", req.path()),
        t,
        models: state.router.names().to_vec(),
        unknown: report.is_none() && !form.key.trim().is_empty(),
        report: report.map(|r| view(r, t, user.lang)),
        sent,
        chosen_model: form.model,
        message: form.message,
    };
    html(&page, 200)
}

/// Sends the message through the gateway's own proxy endpoint, as a client would.
async fn send(state: &AppState, http: &awc::Client, form: &TestKeyForm) -> SendView {
    let url = format!("http://{}/chat/completions", state.local_addr);
    let body = serde_json::json!({"model": form.model, "messages": [{"role": "user", "content": form.message}]});
    let started = Instant::now();
    let result = http
        .post(url)
        .bearer_auth(form.key.trim())
        .timeout(std::time::Duration::from_secs(120))
        .send_json(&body)
        .await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            return SendView {
                status: 0,
                reply: None,
                error: Some(e.to_string()),
                tokens: "—".into(),
                cost: "—".into(),
                latency_ms: started.elapsed().as_millis(),
                key_remaining: "—".into(),
            }
        }
    };
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("—")
            .to_string()
    };
    let (cost, key_remaining) = (
        header("x-tollgate-cost"),
        header("x-tollgate-key-remaining"),
    );
    let json: serde_json::Value = resp.json().limit(4 * 1024 * 1024).await.unwrap_or_default();
    let latency_ms = started.elapsed().as_millis();
    let status = resp.status().as_u16();
    let reply = json["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_string);
    let usage = &json["usage"];
    let tokens = if usage.is_object() {
        format!(
            "{} + {} = {}",
            usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]
        )
    } else {
        "—".into()
    };
    let error = json.get("error").map(|e| {
        serde_json::to_string_pretty(&serde_json::json!({"error": e})).unwrap_or_default()
    });
    SendView {
        status,
        reply,
        error,
        tokens,
        cost,
        latency_ms,
        key_remaining,
    }
}
