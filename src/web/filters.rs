//! The admin filter menus shared by /usage and /logs: teams, users and keys by name,
//! with the chosen one selected. Values are row ids.

use crate::db::names::Directory;

/// An option of a filter menu.
pub struct Opt {
    /// Row id.
    pub value: String,
    /// Alias or username.
    pub label: String,
    /// Currently chosen.
    pub selected: bool,
}

/// The three menus.
pub struct Menus {
    /// Teams by alias.
    pub teams: Vec<Opt>,
    /// Users by username.
    pub users: Vec<Opt>,
    /// Keys by alias.
    pub keys: Vec<Opt>,
}

fn options<'a>(items: impl Iterator<Item = (&'a i64, String)>, chosen: Option<i64>) -> Vec<Opt> {
    let mut v: Vec<Opt> = items
        .map(|(id, label)| Opt {
            value: id.to_string(),
            label,
            selected: chosen == Some(*id),
        })
        .collect();
    v.sort_by(|a, b| a.label.cmp(&b.label).then(a.value.cmp(&b.value)));
    v
}

/// Menus over every entity in `dir`, with the chosen ids selected.
pub fn menus(dir: &Directory, team: Option<i64>, user: Option<i64>, key: Option<i64>) -> Menus {
    Menus {
        teams: options(dir.teams.iter().map(|(id, t)| (id, t.alias.clone())), team),
        users: options(dir.users.iter().map(|(id, u)| (id, u.clone())), user),
        keys: options(dir.keys.iter().map(|(id, k)| (id, k.alias.clone())), key),
    }
}
