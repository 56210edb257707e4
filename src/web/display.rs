//! How entity figures read on the pages: money, times at the configured offset,
//! budget periods and model lists. Templates only print these strings.

use chrono::{DateTime, Utc};

use super::i18n::Lang;
use crate::config::UtcOffset;
use crate::domain::budget::BudgetPeriod;
use crate::money::Nanos;

/// `$20.00`, or the "unlimited" label without a budget.
pub fn usd(lang: Lang, n: Option<Nanos>) -> String {
    match n {
        Some(n) => format!("${n}"),
        None => lang.pick("不限", "Unlimited").to_string(),
    }
}

/// `2026-12-01 00:00` at the offset, or `fallback`.
pub fn when(t: Option<DateTime<Utc>>, offset: UtcOffset, fallback: &str) -> String {
    t.map(|t| {
        t.with_timezone(&offset.fixed())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| fallback.to_string())
}

/// 日 / 周 / 月 / 无.
pub fn period(lang: Lang, p: BudgetPeriod) -> &'static str {
    match p {
        BudgetPeriod::Daily => lang.pick("日", "Daily"),
        BudgetPeriod::Weekly => lang.pick("周", "Weekly"),
        BudgetPeriod::Monthly => lang.pick("月", "Monthly"),
        BudgetPeriod::Lifetime => lang.pick("无", "None"),
    }
}

/// The stored spelling of a period for a form's select (`none` for lifetime).
pub fn period_value(p: BudgetPeriod) -> &'static str {
    p.as_stored().unwrap_or("none")
}

/// 全部模型, or the names.
pub fn models(lang: Lang, models: &[String]) -> String {
    if models.is_empty() {
        lang.pick("全部模型", "All models").to_string()
    } else {
        models.join(", ")
    }
}

/// The budget as typed back into a form (`20`, `20.5`), or "".
pub fn budget_input(n: Option<Nanos>) -> String {
    n.map(|n| {
        let s = n.format_usd(4);
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    })
    .unwrap_or_default()
}

/// One option of a select, radio group or checkbox list.
#[derive(Debug, Clone)]
pub struct Choice {
    /// Submitted value.
    pub value: String,
    /// Shown text.
    pub label: String,
    /// Pre-selected / checked.
    pub selected: bool,
}

impl Choice {
    /// An option whose label is its value.
    pub fn plain(value: &str, selected: bool) -> Choice {
        Choice {
            value: value.to_string(),
            label: value.to_string(),
            selected,
        }
    }
}

/// 日 / 周 / 月 / 无, with `selected` (a stored spelling or `none`) chosen.
pub fn period_choices(lang: Lang, selected: &str) -> Vec<Choice> {
    [
        BudgetPeriod::Daily,
        BudgetPeriod::Weekly,
        BudgetPeriod::Monthly,
        BudgetPeriod::Lifetime,
    ]
    .into_iter()
    .map(|p| Choice {
        value: period_value(p).to_string(),
        label: period(lang, p).to_string(),
        selected: period_value(p) == selected,
    })
    .collect()
}

/// A checkbox per configured model, `chosen` ones checked.
pub fn model_choices(all: &[String], chosen: &[String]) -> Vec<Choice> {
    all.iter()
        .map(|m| Choice::plain(m, chosen.contains(m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(usd(Lang::Zh, Some(Nanos(50_000_000_000))), "$50.00");
        assert_eq!(usd(Lang::Zh, None), "不限");
        assert_eq!(budget_input(Some(Nanos(20_500_000_000))), "20.5");
        assert_eq!(budget_input(Some(Nanos(20_000_000_000))), "20");
        assert_eq!(period(Lang::Zh, BudgetPeriod::Monthly), "月");
        assert_eq!(models(Lang::Zh, &[]), "全部模型");
    }
}
