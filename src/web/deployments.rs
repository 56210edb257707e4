//! 模型 (`/deployments`): every configured model with its deployments — provider and
//! model id, upstream, route (direct or which proxy, and why), extra CAs, prices,
//! whether a key is configured (never the key) — and 测试连接 per deployment, which
//! runs the same check as `tollgate check-providers`. Admins only; nothing is charged.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::html;
use super::i18n::Lang;
use super::session::{Admin, PageCtx};
use crate::app::AppState;
use crate::error::PageError;
use crate::proxy::check::{self, CheckReport};
use crate::proxy::router::Deployment;
use crate::proxy::Client;

/// Routes of this page.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deployments", web::get().to(show))
        .route("/deployments/{index}/check", web::post().to(run_check));
}

/// Page labels.
pub struct Labels {
    pub title: &'static str,
    pub intro: &'static str,
    pub model: &'static str,
    pub kind: &'static str,
    pub chat: &'static str,
    pub provider: &'static str,
    pub upstream: &'static str,
    pub route: &'static str,
    pub prices: &'static str,
    pub per_mtok: &'static str,
    pub key: &'static str,
    pub key_set: &'static str,
    pub key_missing: &'static str,
    pub key_optional: &'static str,
    pub test: &'static str,
    pub reachable: &'static str,
    pub unreachable: &'static str,
    pub status: &'static str,
    pub latency: &'static str,
    pub tls: &'static str,
    pub extra_ca: &'static str,
    pub unpriced: &'static str,
    pub none: &'static str,
}

const ZH: Labels = Labels {
    title: "模型", intro: "每个模型的部署、上游地址和出口路由（直连或经哪个代理）。「测试连接」调用该部署最便宜的接口（模型列表），不计费。",
    model: "模型", kind: "类型", chat: "对话", provider: "服务商 / 模型 ID", upstream: "上游地址", route: "出口路由",
    prices: "价格 (USD / 百万 Token)", per_mtok: "输入 / 输出", key: "服务商密钥", key_set: "已配置",
    key_missing: "未配置", key_optional: "未配置（可选）", test: "测试连接", reachable: "可达", unreachable: "不可达",
    status: "状态码", latency: "延迟", tls: "TLS", extra_ca: "额外信任的 CA", unpriced: "未定价（按 0 计费）", none: "暂无模型：在 config.toml 中添加 [[models]]。",
};

const EN: Labels = Labels {
    title: "Models", intro: "Each model's deployments, upstream and way out (direct, or through which proxy). “Test connection” calls the deployment's cheapest endpoint (its model list); nothing is charged.",
    model: "Model", kind: "Kind", chat: "chat", provider: "Provider / model id", upstream: "Upstream", route: "Route",
    prices: "Prices (USD per 1M tokens)", per_mtok: "input / output", key: "Provider key", key_set: "configured",
    key_missing: "missing", key_optional: "none (optional)", test: "Test connection", reachable: "reachable", unreachable: "unreachable",
    status: "Status", latency: "Latency", tls: "TLS", extra_ca: "Extra CAs", unpriced: "no price (charged 0)", none: "No models yet: add [[models]] to config.toml.",
};

/// One deployment, formatted.
pub struct DeploymentRow {
    pub index: usize,
    pub entry: usize,
    pub provider: String,
    pub upstream: String,
    pub route: String,
    pub route_why: String,
    pub ca_files: String,
    pub prices: String,
    pub key: &'static str,
    pub key_ok: bool,
    pub check: Option<CheckView>,
}

/// A check result, formatted.
pub struct CheckView {
    pub ok: bool,
    pub reachable: bool,
    pub status: String,
    pub latency: String,
    pub tls: String,
    pub outcome: String,
}

/// One model name and its deployments.
pub struct ModelRow {
    pub name: String,
    pub deployments: Vec<DeploymentRow>,
}

#[derive(Template)]
#[template(path = "deployments.html")]
struct DeploymentsPage {
    page: PageCtx,
    t: &'static Labels,
    models: Vec<ModelRow>,
}

/// The 测试连接 form.
#[derive(Deserialize)]
pub struct CheckForm {
    csrf_token: String,
}

async fn show(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    render(&admin, &req, &state, None)
}

async fn run_check(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    http: web::Data<Client>,
    index: web::Path<usize>,
    form: web::Form<CheckForm>,
) -> Result<HttpResponse, PageError> {
    admin.0.check_csrf(&form.csrf_token)?;
    let index = index.into_inner();
    let deployment = state
        .router
        .deployments()
        .map(|(_, d)| d)
        .find(|d| d.index == index)
        .ok_or_else(|| PageError::NotFound(format!("deployment #{}", index + 1)))?;
    let label = state.routes.of_deployment(index).1;
    let report = check::check(&http, deployment, label).await;
    render(&admin, &req, &state, Some((index, report)))
}

fn render(
    admin: &Admin,
    req: &HttpRequest,
    state: &AppState,
    checked: Option<(usize, CheckReport)>,
) -> Result<HttpResponse, PageError> {
    let lang = admin.0.lang;
    let t = lang.pick(&ZH, &EN);
    let mut models: Vec<ModelRow> = Vec::new();
    for (name, d) in state.router.deployments() {
        let check = checked
            .as_ref()
            .filter(|(i, _)| *i == d.index)
            .map(|(_, r)| check_view(r, lang));
        let row = deployment_row(state, d, t, check);
        match models.iter_mut().find(|m| m.name == name) {
            Some(m) => m.deployments.push(row),
            None => models.push(ModelRow {
                name: name.to_string(),
                deployments: vec![row],
            }),
        }
    }
    let page = DeploymentsPage {
        page: admin.0.page("models", req.path()),
        t,
        models,
    };
    html(&page, 200)
}

fn deployment_row(
    state: &AppState,
    d: &Deployment,
    t: &Labels,
    check: Option<CheckView>,
) -> DeploymentRow {
    let up = &d.upstream;
    let label = state.routes.of_deployment(d.index).1;
    let has_key = up.api_key.as_deref().is_some_and(|k| !k.is_empty());
    let optional = up.provider == crate::proxy::ProviderKind::OpenAiCompatible;
    let prices = if d.price.known {
        format!(
            "{} / {}",
            usd(d.price.input.usd_per_mtok()),
            usd(d.price.output.usd_per_mtok())
        )
    } else {
        t.unpriced.to_string()
    };
    DeploymentRow {
        index: d.index,
        entry: d.index + 1,
        provider: format!("{} · {}", up.provider.as_str(), up.model_id),
        upstream: up.api_base.clone(),
        route: label.via,
        route_why: label.why,
        ca_files: label.ca_files.join(", "),
        prices,
        key: match (has_key, optional) {
            (true, _) => t.key_set,
            (false, true) => t.key_optional,
            (false, false) => t.key_missing,
        },
        key_ok: has_key || optional,
        check,
    }
}

/// `$2.5`, `$0.075`: a price per million tokens without trailing zeros.
fn usd(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("${text}")
}

fn check_view(r: &CheckReport, lang: Lang) -> CheckView {
    CheckView {
        ok: r.ok,
        reachable: r.reachable,
        status: r.status.map_or("—".into(), |s| s.to_string()),
        latency: format!("{} ms", r.latency_ms),
        tls: r.tls.clone(),
        outcome: match (r.ok, lang) {
            (true, Lang::Zh) => "连接正常，服务商接受了密钥".into(),
            _ => r.outcome.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::usd;

    #[test]
    fn prices_drop_trailing_zeros() {
        assert_eq!(usd(2.5), "$2.5");
        assert_eq!(usd(10.0), "$10");
        assert_eq!(usd(0.075), "$0.075");
    }
}
