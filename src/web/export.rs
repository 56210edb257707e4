//! The 导出 dialog of /usage and `GET /usage/export` (admin session or master key).
//! Both hand the same parameters to `domain::export`, which `tollgate export` calls too.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use super::api_access::ApiAdmin;
use super::i18n::Lang;
use crate::app::AppState;
use crate::config::UtcOffset;
use crate::domain::export::{self, ExportParams, ExportRequest};
use crate::domain::reports::{DateRange, Preset};
use crate::error::AppError;

/// Dialog labels.
pub struct ExportLabels {
    pub(super) title: &'static str,
    pub(super) date_range: &'static str,
    pub(super) custom: &'static str,
    pub(super) from: &'static str,
    pub(super) to: &'static str,
    pub(super) entity: &'static str,
    pub(super) entities: [&'static str; 3],
    pub(super) scope: &'static str,
    pub(super) scopes: [&'static str; 3],
    pub(super) format: &'static str,
    pub(super) confirm: &'static str,
    pub(super) cancel: &'static str,
}

const ZH: ExportLabels = ExportLabels {
    title: "导出账单",
    date_range: "日期范围",
    custom: "自定义",
    from: "开始日期",
    to: "结束日期",
    entity: "导出对象",
    entities: ["分组", "用户", "密钥"],
    scope: "导出范围",
    scopes: [
        "daily（按天汇总）",
        "daily_with_keys（按天+密钥）",
        "daily_with_models（按天+模型）",
    ],
    format: "导出格式",
    confirm: "确认导出",
    cancel: "取消",
};

const EN: ExportLabels = ExportLabels {
    title: "Export bill",
    date_range: "Date range",
    custom: "Custom",
    from: "From",
    to: "To",
    entity: "Group by",
    entities: ["Team", "User", "Key"],
    scope: "Scope",
    scopes: [
        "daily (per day)",
        "daily_with_keys (per day and key)",
        "daily_with_models (per day and model)",
    ],
    format: "Format",
    confirm: "Export",
    cancel: "Cancel",
};

/// A preset of the date-range menu, with the dates it stands for.
pub struct PresetOption {
    /// Menu text.
    pub label: &'static str,
    /// First day.
    pub start: String,
    /// Last day.
    pub end: String,
    /// Preselected (本月).
    pub selected: bool,
}

/// What the dialog template needs.
pub struct ExportDialog {
    /// Labels.
    pub t: &'static ExportLabels,
    /// 本周, 上周, 本月, 上月.
    pub presets: Vec<PresetOption>,
    /// Initial first day (this month's).
    pub start: String,
    /// Initial last day.
    pub end: String,
    /// Entity values with labels.
    pub(super) entities: Vec<(&'static str, &'static str)>,
    /// Scope values with labels.
    pub(super) scopes: Vec<(&'static str, &'static str)>,
}

/// The dialog for `lang`, its presets computed for today at `offset`.
pub fn dialog(lang: Lang, offset: UtcOffset) -> ExportDialog {
    let t = lang.pick(&ZH, &EN);
    let names = lang.pick(
        ["本周", "上周", "本月", "上月"],
        ["This week", "Last week", "This month", "Last month"],
    );
    let kinds = [
        Preset::ThisWeek,
        Preset::LastWeek,
        Preset::ThisMonth,
        Preset::LastMonth,
    ];
    let presets: Vec<PresetOption> = names
        .into_iter()
        .zip(kinds)
        .map(|(label, p)| {
            let r = DateRange::preset(p, Utc::now(), offset);
            PresetOption {
                label,
                start: r.start.to_string(),
                end: r.end.to_string(),
                selected: p == Preset::ThisMonth,
            }
        })
        .collect();
    let this_month = DateRange::preset(Preset::ThisMonth, Utc::now(), offset);
    ExportDialog {
        t,
        presets,
        start: this_month.start.to_string(),
        end: this_month.end.to_string(),
        entities: ["team", "user", "key"]
            .into_iter()
            .zip(t.entities)
            .collect(),
        scopes: ["daily", "daily_with_keys", "daily_with_models"]
            .into_iter()
            .zip(t.scopes)
            .collect(),
    }
}

/// `GET /usage/export` parameters (SPEC §7); missing ones are reported by name.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExportQuery {
    start_date: String,
    end_date: String,
    entity: String,
    scope: String,
    format: String,
}

/// Sends the export as an attachment; bad parameters are a 400 in OpenAI's format.
pub async fn download(
    _who: ApiAdmin,
    state: web::Data<AppState>,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, AppError> {
    let params = ExportParams {
        start_date: &q.start_date,
        end_date: &q.end_date,
        entity: &q.entity,
        scope: &q.scope,
        format: &q.format,
    };
    let request = ExportRequest::parse(&params, state.config.server.max_report_days)?;
    let offset = state.config.server.utc_offset;
    let file = state
        .db
        .run(move |c| export::export(c, &request, offset))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", file.filename),
        ))
        .insert_header(("cache-control", "no-store"))
        .body(file.body))
}
