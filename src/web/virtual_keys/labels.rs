//! Labels of the API密钥 pages (zh default, en) and the 有效期 choices.

use crate::web::display::Choice;
use crate::web::i18n::Lang;

/// Labels of the keys pages.
pub struct KeyLabels {
    pub title: &'static str,
    pub create: &'static str,
    pub alias: &'static str,
    pub key: &'static str,
    pub user: &'static str,
    pub team: &'static str,
    pub budget: &'static str,
    pub budget_hint: &'static str,
    pub period: &'static str,
    pub models: &'static str,
    pub all_models: &'static str,
    pub chosen_models: &'static str,
    pub expiry: &'static str,
    pub expiry_date: &'static str,
    pub expiry_date_hint: &'static str,
    pub submit: &'static str,
    pub new_key_title: &'static str,
    pub new_key_warning: &'static str,
    pub copy: &'static str,
    pub copied: &'static str,
    pub spent: &'static str,
    pub remaining: &'static str,
    pub status: &'static str,
    pub last_used: &'static str,
    pub never: &'static str,
    pub never_used: &'static str,
    pub status_active: &'static str,
    pub status_blocked: &'static str,
    pub status_expired: &'static str,
    pub block: &'static str,
    pub unblock: &'static str,
    pub regenerate: &'static str,
    pub confirm_regenerate: &'static str,
    pub confirm_delete: &'static str,
    pub empty: &'static str,
    pub back: &'static str,
}

const ZH: KeyLabels = KeyLabels {
    title: "API密钥",
    create: "生成密钥",
    alias: "密钥别名",
    key: "密钥",
    user: "关联用户",
    team: "关联分组",
    budget: "预算限制",
    budget_hint: "美元，留空为不限",
    period: "预算周期",
    models: "模型选择",
    all_models: "全部模型",
    chosen_models: "指定模型",
    expiry: "有效期",
    expiry_date: "到期日期",
    expiry_date_hint: "仅在有效期选「指定日期」时使用",
    submit: "生成",
    new_key_title: "密钥已生成",
    new_key_warning: "请立即复制并妥善保存。此密钥只显示这一次，离开本页后将无法再次查看。",
    copy: "复制",
    copied: "已复制",
    spent: "已用",
    remaining: "剩余",
    status: "状态",
    last_used: "最近使用",
    never: "永久",
    never_used: "从未使用",
    status_active: "正常",
    status_blocked: "已禁用",
    status_expired: "已过期",
    block: "禁用",
    unblock: "启用",
    regenerate: "重新生成",
    confirm_regenerate: "重新生成后旧密钥立即失效，确定吗？",
    confirm_delete: "确定删除该密钥吗？",
    empty: "还没有密钥。",
    back: "返回密钥列表",
};

const EN: KeyLabels = KeyLabels {
    title: "API Keys",
    create: "Generate key",
    alias: "Key alias",
    key: "Key",
    user: "User",
    team: "Team",
    budget: "Budget",
    budget_hint: "USD, empty = unlimited",
    period: "Budget period",
    models: "Models",
    all_models: "All models",
    chosen_models: "Selected models",
    expiry: "Expires",
    expiry_date: "Expiry date",
    expiry_date_hint: "Only used when Expires is “On a date”",
    submit: "Generate",
    new_key_title: "Key generated",
    new_key_warning:
        "Copy it now and keep it safe. This key is shown only once and cannot be displayed again.",
    copy: "Copy",
    copied: "Copied",
    spent: "Spent",
    remaining: "Remaining",
    status: "Status",
    last_used: "Last used",
    never: "Never",
    never_used: "Never used",
    status_active: "Active",
    status_blocked: "Blocked",
    status_expired: "Expired",
    block: "Block",
    unblock: "Unblock",
    regenerate: "Regenerate",
    confirm_regenerate: "The old key stops working immediately. Regenerate?",
    confirm_delete: "Delete this key?",
    empty: "No keys yet.",
    back: "Back to keys",
};

/// Labels for `lang`.
pub fn labels(lang: Lang) -> &'static KeyLabels {
    lang.pick(&ZH, &EN)
}

/// 永久 / 1 / 7 / 30 / 90 天 / 指定日期 (and 不变 when editing), `selected` chosen.
pub fn expiry_choices(lang: Lang, selected: &str, editing: bool) -> Vec<Choice> {
    let mut options: Vec<(&str, String)> = Vec::new();
    if editing {
        options.push(("keep", lang.pick("不变", "Unchanged").into()));
    }
    options.push(("never", lang.pick("永久", "Never").into()));
    for (value, days) in [("1d", 1), ("7d", 7), ("30d", 30), ("90d", 90)] {
        options.push((
            value,
            lang.pick(format!("{days} 天"), format!("{days} days")),
        ));
    }
    options.push(("date", lang.pick("指定日期", "On a date").into()));
    options
        .into_iter()
        .map(|(value, label)| Choice {
            selected: value == selected,
            value: value.to_string(),
            label,
        })
        .collect()
}
