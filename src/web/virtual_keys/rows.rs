//! What the API密钥 pages print: a key as a table row, and the key form's values.

use super::labels::{self, labels};
use crate::config::Config;
use crate::domain::input::configured_models;
use crate::domain::keys::{Expiry, KeyInput, KeyView, OwnerChoices};
use crate::web::display::{self, Choice};
use crate::web::form::Fields;
use crate::web::i18n::Lang;
use crate::web::session::SignedIn;

/// One key as a table row.
pub struct KeyLine {
    pub token: String,
    pub alias: String,
    pub masked: String,
    pub user: String,
    pub team: String,
    pub budget: String,
    pub spent: String,
    pub remaining: String,
    pub models: String,
    pub expires: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub last_used: String,
    pub blocked: bool,
}

/// The key form's values.
pub struct KeyForm {
    pub alias: String,
    pub users: Vec<Choice>,
    pub teams: Vec<Choice>,
    pub max_budget: String,
    pub periods: Vec<Choice>,
    pub all_models: bool,
    pub models: Vec<Choice>,
    pub expiries: Vec<Choice>,
    pub expiry_date: String,
}

/// A key as a table row.
pub fn line(lang: Lang, config: &Config, k: &KeyView) -> KeyLine {
    let t = labels(lang);
    let (status, status_class) = match (k.blocked, k.expired) {
        (true, _) => (t.status_blocked, "badge-bad"),
        (false, true) => (t.status_expired, "badge-warn"),
        _ => (t.status_active, "badge-ok"),
    };
    let offset = config.server.utc_offset;
    KeyLine {
        token: k.token.clone(),
        alias: k.alias.clone(),
        masked: k.masked.clone(),
        user: k.user.clone().unwrap_or_default(),
        team: k.team_alias.clone().unwrap_or_default(),
        budget: display::usd(lang, k.max_budget),
        spent: display::usd(lang, Some(k.spend)),
        remaining: display::usd(lang, k.remaining),
        models: display::models(lang, &k.models),
        expires: display::when(k.expires_at, offset, t.never),
        status,
        status_class,
        last_used: display::when(k.last_used_at, offset, t.never_used),
        blocked: k.blocked,
    }
}

/// The form filled with `f` (owners: who may be picked).
pub fn form(
    lang: Lang,
    config: &Config,
    owners: &OwnerChoices,
    f: &Fields,
    editing: bool,
) -> KeyForm {
    let none = || Choice {
        value: String::new(),
        label: lang.pick("无", "None").into(),
        selected: false,
    };
    let users = owners
        .users
        .iter()
        .map(|u| Choice::plain(u, u == f.get("user")));
    let teams = owners.teams.iter().map(|(id, alias)| Choice {
        value: id.clone(),
        label: alias.clone(),
        selected: id == f.get("team_id"),
    });
    let chosen = f.models();
    KeyForm {
        alias: f.get("key_alias").to_string(),
        users: std::iter::once(none()).chain(users).collect(),
        teams: std::iter::once(none()).chain(teams).collect(),
        max_budget: f.get("max_budget").to_string(),
        periods: display::period_choices(lang, f.get("budget_duration")),
        all_models: chosen.is_empty(),
        models: display::model_choices(&configured_models(config), &chosen),
        expiries: labels::expiry_choices(lang, f.get("expiry"), editing),
        expiry_date: f.get("expiry_date").to_string(),
    }
}

/// A new form's defaults: 月 budget, 永久, and the user themselves unless admin.
pub fn blank(user: &SignedIn) -> Fields {
    let me = if user.user.role.is_admin() {
        ""
    } else {
        user.user.username.as_str()
    };
    Fields(vec![
        ("user".into(), me.into()),
        ("budget_duration".into(), "monthly".into()),
        ("expiry".into(), "never".into()),
    ])
}

/// A key's settings as the edit form posts them.
pub fn fields_of(k: &KeyView) -> Fields {
    let mut f = vec![
        ("key_alias".into(), k.alias.clone()),
        ("max_budget".into(), display::budget_input(k.max_budget)),
        (
            "budget_duration".into(),
            display::period_value(k.period).into(),
        ),
        ("expiry".into(), "keep".into()),
        (
            "models_mode".into(),
            if k.models.is_empty() { "all" } else { "list" }.into(),
        ),
    ];
    f.extend(k.models.iter().map(|m| ("models".to_string(), m.clone())));
    Fields(f)
}

/// The 有效期 chosen; `None` = unchanged (edit form).
pub fn expiry_of(f: &Fields) -> Option<Expiry> {
    match f.get("expiry") {
        "keep" => None,
        "" | "never" => Some(Expiry::Never),
        "date" => Some(Expiry::Date(f.get("expiry_date").to_string())),
        other => Some(Expiry::Duration(other.to_string())),
    }
}

/// The 生成密钥 form as a new key.
pub fn key_input(f: &Fields) -> KeyInput {
    KeyInput {
        alias: f.get("key_alias").to_string(),
        user: f.opt("user"),
        team_id: f.opt("team_id"),
        max_budget: f.opt("max_budget"),
        budget_duration: f.opt("budget_duration"),
        models: f.models(),
        expiry: expiry_of(f).unwrap_or_default(),
    }
}
