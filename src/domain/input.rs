//! Parsing of what people type, shared by teams, users and keys: names, budgets,
//! budget periods and model lists. Messages are in the caller's language.

use super::auth::Role;
use super::budget::BudgetPeriod;
use super::lang::Lang;
use super::DomainError;
use crate::config::Config;
use crate::money::{MoneyError, Nanos};

/// Longest accepted name (team alias, username, key alias).
pub const MAX_NAME_CHARS: usize = 64;

/// A trimmed, non-empty name of at most [`MAX_NAME_CHARS`] printable characters.
/// `label` is the (zh, en) name of the field for messages.
pub fn name(
    lang: Lang,
    field: &'static str,
    label: (&str, &str),
    text: &str,
) -> Result<String, DomainError> {
    let text = text.trim();
    if text.is_empty() {
        let m = lang.pick(
            format!("{}不能为空", label.0),
            format!("{} must not be empty", label.1),
        );
        return Err(DomainError::invalid(field, m));
    }
    if text.chars().count() > MAX_NAME_CHARS || text.chars().any(char::is_control) {
        let m = lang.pick(
            format!(
                "{}最多 {MAX_NAME_CHARS} 个字符，且不能包含控制字符",
                label.0
            ),
            format!(
                "{} must be at most {MAX_NAME_CHARS} printable characters",
                label.1
            ),
        );
        return Err(DomainError::invalid(field, m));
    }
    Ok(text.to_string())
}

/// A budget in USD; empty or absent means "no budget".
pub fn budget(lang: Lang, text: Option<&str>) -> Result<Option<Nanos>, DomainError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    Nanos::parse_usd(text).map(Some).map_err(|e| {
        let m = match e {
            MoneyError::NotANumber => lang.pick(
                format!("预算「{text}」不是有效的数字（例如 20 或 20.5）"),
                format!("max_budget `{text}` is not a number (e.g. 20 or 20.5)"),
            ),
            MoneyError::Negative => lang.pick(
                format!("预算不能为负数：{text}"),
                format!("max_budget must not be negative: {text}"),
            ),
            MoneyError::TooPrecise => lang.pick(
                format!("预算最多保留 4 位小数（0.01 美分）：{text}"),
                format!("max_budget has at most 4 decimals (a hundredth of a cent): {text}"),
            ),
            MoneyError::TooLarge => lang.pick(
                format!("预算过大：{text}"),
                format!("max_budget is too large: {text}"),
            ),
        };
        DomainError::invalid("max_budget", m)
    })
}

/// A budget period (`daily`, `weekly`, `monthly`, `none`, LiteLLM's `30d` …).
pub fn period(lang: Lang, text: Option<&str>) -> Result<BudgetPeriod, DomainError> {
    BudgetPeriod::parse(text).map_err(|en| {
        let zh = format!(
            "预算周期「{}」无效，可选：日、周、月、无",
            text.unwrap_or_default()
        );
        DomainError::invalid("budget_duration", lang.pick(zh, en))
    })
}

/// The configured model names, each once, in config order.
pub fn configured_models(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for m in &config.models {
        if !names.contains(&m.name) {
            names.push(m.name.clone());
        }
    }
    names
}

/// A list of model names, each configured; empty means "all models".
pub fn models(lang: Lang, config: &Config, given: &[String]) -> Result<Vec<String>, DomainError> {
    let known = configured_models(config);
    let mut out: Vec<String> = Vec::new();
    for name in given.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
        if !known.iter().any(|k| k == name) {
            let m = lang.pick(
                format!("未知模型「{name}」，可选：{}", known.join(", ")),
                format!(
                    "unknown model `{name}`; configured models: {}",
                    known.join(", ")
                ),
            );
            return Err(DomainError::invalid("models", m));
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// A model list as stored (JSON array text).
pub fn models_to_json(models: &[String]) -> String {
    serde_json::to_string(models).unwrap_or_else(|_| "[]".to_string())
}

/// A stored model list (JSON array text).
///
/// An unreadable list (a row edited by hand) allows no model: since `[]` means every
/// model, falling back to an empty list would grant them all. It reads as one entry
/// naming the problem, which matches no model and shows on the pages.
pub fn models_from_json(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| {
        tracing::error!(error = %e, "unreadable model list in the database; no model allowed");
        vec![UNREADABLE_MODELS.to_string()]
    })
}

/// The model list entry standing for a list that could not be read.
pub const UNREADABLE_MODELS: &str = "(unreadable model list)";

/// A login name: a [`name`] of letters, digits and `. _ - @` only.
pub fn username(lang: Lang, text: &str) -> Result<String, DomainError> {
    let name = name(lang, "user_id", ("用户名", "user_id"), text)?;
    // At least one letter or digit: `.` and `..` would be path segments in the
    // pages' URLs (`/users/..`).
    if name
        .chars()
        .all(|c| c.is_alphanumeric() || "._-@".contains(c))
        && name.chars().any(char::is_alphanumeric)
    {
        return Ok(name);
    }
    Err(DomainError::invalid(
        "user_id",
        lang.pick(
            format!("用户名「{name}」只能包含字母、数字和 . _ - @，且至少有一个字母或数字"),
            format!("user_id `{name}` may only contain letters, digits and . _ - @, with at least one letter or digit"),
        ),
    ))
}

/// A role in its API spelling.
pub fn role(lang: Lang, text: &str) -> Result<Role, DomainError> {
    Role::parse(text.trim()).ok_or_else(|| {
        DomainError::invalid(
            "user_role",
            lang.pick(
                format!("用户角色「{text}」无效，可选：普通用户、管理员、只读用户"),
                format!(
                    "user_role `{text}` must be internal_user, proxy_admin or internal_user_viewer"
                ),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_checked_with_clear_messages() {
        assert_eq!(budget(Lang::En, Some(" ")).unwrap(), None);
        assert_eq!(
            budget(Lang::En, Some("20")).unwrap(),
            Some(Nanos(20_000_000_000))
        );
        for (bad, words) in [
            ("-1", "negative"),
            ("abc", "not a number"),
            ("1.00001", "4 decimals"),
        ] {
            let e = budget(Lang::En, Some(bad)).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
        let zh = budget(Lang::Zh, Some("-5")).unwrap_err().to_string();
        assert!(zh.contains("负数"), "{zh}");
    }

    #[test]
    fn names_are_trimmed_and_required() {
        assert_eq!(name(Lang::En, "x", ("名", "name"), "  a ").unwrap(), "a");
        assert!(name(Lang::En, "x", ("名", "name"), "   ").is_err());
        assert!(name(Lang::En, "x", ("名", "name"), &"x".repeat(65)).is_err());
    }
}
