//! Usage reports from the hourly rollups: totals, per-model breakdown, top teams, keys
//! and users, and spend per day, for a date range and an optional filter. Who may see
//! what is decided here ([`Viewer`]): admins see everything, other roles only the rows
//! of their own user. Entity naming ([`Entity`], [`label`]) is shared with exports.

use std::collections::HashMap;

use chrono::NaiveDate;
use rusqlite::Connection;

use super::reports::{date_of_day, parse_id, DateRange};
use super::DomainError;
use crate::config::UtcOffset;
use crate::db::names::Directory;
use crate::db::rollups::{self, DailyCell, RollupFilter, Sums};
use crate::domain::auth::Role;

/// Who asks for a report or a log page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// Their user id.
    pub user_id: i64,
    /// Their role.
    pub role: Role,
}

impl Viewer {
    /// Narrows a requested filter to what this viewer may see: non-admins always get
    /// their own user id, whatever they asked for.
    pub fn scope(&self, mut filter: RollupFilter) -> RollupFilter {
        if !self.role.is_admin() {
            filter.user_id = Some(self.user_id);
        }
        filter
    }
}

/// The entity kinds reports group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// 分组.
    Team,
    /// 用户.
    User,
    /// 密钥.
    Key,
}

/// One named entity row of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// Row id (0 = none: e.g. requests of keys without a team).
    pub id: i64,
    /// Alias or username; `(none)` for id 0, `(deleted #id)` when it no longer exists.
    pub name: String,
    /// Public id: team_id, username (LiteLLM's user_id) or key hash; empty for none/deleted.
    pub public_id: String,
    /// Its sums.
    pub sums: Sums,
}

/// Name and public id of entity `id` of kind `entity`. Id 0 is `(none)`, a deleted
/// entity `(deleted #id)`, both with an empty public id.
pub fn label(dir: &Directory, entity: Entity, id: i64) -> (String, String) {
    if id == 0 {
        return ("(none)".to_string(), String::new());
    }
    let found = match entity {
        Entity::Team => dir
            .teams
            .get(&id)
            .map(|t| (t.alias.clone(), t.team_id.clone())),
        Entity::User => dir.users.get(&id).map(|u| (u.clone(), u.clone())),
        Entity::Key => dir
            .keys
            .get(&id)
            .map(|k| (k.alias.clone(), k.token.clone())),
    };
    found.unwrap_or_else(|| (format!("(deleted #{id})"), String::new()))
}

/// The id of `entity` in a rollup cell.
pub fn id_in(cell: &DailyCell, entity: Entity) -> i64 {
    match entity {
        Entity::Team => cell.team_id,
        Entity::User => cell.user_id,
        Entity::Key => cell.key_id,
    }
}

/// Everything the usage page shows for one range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    /// The range.
    pub range: DateRange,
    /// All rows summed.
    pub totals: Sums,
    /// Per model, by spend (then name).
    pub by_model: Vec<(String, Sums)>,
    /// Top teams by spend.
    pub teams: Vec<Named>,
    /// Top keys by spend.
    pub keys: Vec<Named>,
    /// Top users by spend.
    pub users: Vec<Named>,
    /// Every day of the range, zero days included.
    pub daily: Vec<(NaiveDate, Sums)>,
}

/// How many entities the top lists show.
pub const TOP: usize = 10;

/// Validates the page's filter parameters (row ids and a model name; empty = any).
pub fn parse_filter(
    key_id: &str,
    user_id: &str,
    team_id: &str,
    model: &str,
) -> Result<RollupFilter, DomainError> {
    let model = model.trim();
    if model.len() > 200 {
        return Err(DomainError::invalid("model", "model name is too long"));
    }
    Ok(RollupFilter {
        key_id: parse_id("key_id", key_id)?,
        user_id: parse_id("user_id", user_id)?,
        team_id: parse_id("team_id", team_id)?,
        model: Some(model.to_string()).filter(|m| !m.is_empty()),
    })
}

/// Names of every key, user and team (filter menus, labels).
pub fn directory(conn: &Connection) -> Result<Directory, DomainError> {
    Ok(crate::db::names::load(conn)?)
}

/// The rollup cells of `range`, narrowed to what `viewer` may see.
pub fn cells(
    conn: &Connection,
    range: &DateRange,
    offset: UtcOffset,
    filter: &RollupFilter,
) -> Result<Vec<DailyCell>, DomainError> {
    let (from, to) = range.hours(offset);
    Ok(rollups::daily_cells(
        conn,
        from,
        to,
        i64::from(offset.seconds),
        filter,
    )?)
}

/// The report for `range` as `viewer` may see it.
pub fn report(
    conn: &Connection,
    viewer: Viewer,
    range: DateRange,
    offset: UtcOffset,
    filter: RollupFilter,
) -> Result<UsageReport, DomainError> {
    let (from, to) = range.hours(offset);
    let mut summary = Summary::default();
    rollups::for_each_daily_cell(
        conn,
        from,
        to,
        i64::from(offset.seconds),
        &viewer.scope(filter),
        |c| summary.add(c),
    )?;
    Ok(summary.finish(&directory(conn)?, range))
}

/// Totals only (the live view polls this).
pub fn totals(cells: &[DailyCell]) -> Sums {
    let mut totals = Sums::default();
    for cell in cells {
        totals.add(&cell.sums);
    }
    totals
}

/// Builds the report from rollup cells (pure; unit-tested).
pub fn summarise(cells: &[DailyCell], dir: &Directory, range: DateRange) -> UsageReport {
    let mut summary = Summary::default();
    for cell in cells {
        summary.add(cell);
    }
    summary.finish(dir, range)
}

/// Running sums of the report, fed one cell at a time (a month of 1,000 keys is
/// ~150k cells: no cell is kept, no model name copied per cell).
#[derive(Debug, Default)]
pub struct Summary {
    totals: Sums,
    models: HashMap<String, Sums>,
    days: HashMap<i64, Sums>,
    entities: [HashMap<i64, Sums>; 3],
}

impl Summary {
    /// Counts one cell.
    pub fn add(&mut self, cell: &DailyCell) {
        self.totals.add(&cell.sums);
        match self.models.get_mut(cell.model.as_str()) {
            Some(s) => s.add(&cell.sums),
            None => {
                self.models.insert(cell.model.clone(), cell.sums);
            }
        }
        self.days.entry(cell.day).or_default().add(&cell.sums);
        for (map, entity) in self.entities.iter_mut().zip(ENTITIES) {
            map.entry(id_in(cell, entity)).or_default().add(&cell.sums);
        }
    }

    /// The report, with entity names from `dir`.
    pub fn finish(self, dir: &Directory, range: DateRange) -> UsageReport {
        let mut by_model: Vec<(String, Sums)> = self.models.into_iter().collect();
        by_model.sort_by(|a, b| b.1.spend.cmp(&a.1.spend).then(a.0.cmp(&b.0)));
        let days: HashMap<NaiveDate, Sums> = self
            .days
            .into_iter()
            .map(|(d, s)| (date_of_day(d), s))
            .collect();
        let [teams, keys, users] = self.entities;
        UsageReport {
            range,
            totals: self.totals,
            by_model,
            teams: top(teams, dir, Entity::Team),
            keys: top(keys, dir, Entity::Key),
            users: top(users, dir, Entity::User),
            daily: range
                .each_day()
                .map(|d| (d, days.get(&d).copied().unwrap_or_default()))
                .collect(),
        }
    }
}

/// The entities ranked on the page, in the order `summarise` collects them.
const ENTITIES: [Entity; 3] = [Entity::Team, Entity::Key, Entity::User];

fn top(sums: HashMap<i64, Sums>, dir: &Directory, entity: Entity) -> Vec<Named> {
    let mut rows: Vec<Named> = sums
        .into_iter()
        .map(|(id, sums)| {
            let (name, public_id) = label(dir, entity, id);
            Named {
                id,
                name,
                public_id,
                sums,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.sums.spend.cmp(&a.sums.spend).then(a.name.cmp(&b.name)));
    rows.truncate(TOP);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::names::TeamName;
    use crate::money::Nanos;

    fn cell(day: i64, team_id: i64, model: &str, spend: i64) -> DailyCell {
        DailyCell {
            day,
            key_id: 1,
            user_id: 1,
            team_id,
            model: model.into(),
            sums: Sums {
                requests: 1,
                successes: 1,
                spend: Nanos(spend),
                prompt_tokens: 3,
                completion_tokens: 4,
                ..Sums::default()
            },
        }
    }

    #[test]
    fn summary_adds_up_and_names_entities() {
        let mut dir = Directory::default();
        dir.teams.insert(
            7,
            TeamName {
                alias: "研发".into(),
                team_id: "team-7".into(),
            },
        );
        let day = 20089; // 2025-01-01
        let range = DateRange {
            start: date_of_day(day),
            end: date_of_day(day + 2),
        };
        let cells = [
            cell(day, 7, "gpt-4o", 10),
            cell(day, 0, "gpt-4o", 5),
            cell(day + 2, 9, "claude", 30),
        ];
        let r = summarise(&cells, &dir, range);
        assert_eq!(r.totals.requests, 3);
        assert_eq!(r.totals.spend, Nanos(45));
        assert_eq!(r.totals.total_tokens(), 21);
        assert_eq!(r.by_model[0].0, "claude");
        assert_eq!(r.by_model[1].1.spend, Nanos(15));
        let names: Vec<_> = r
            .teams
            .iter()
            .map(|t| (t.name.as_str(), t.public_id.as_str()))
            .collect();
        assert_eq!(
            names,
            [("(deleted #9)", ""), ("研发", "team-7"), ("(none)", "")]
        );
        assert_eq!(r.daily.len(), 3);
        assert_eq!(r.daily[1].1, Sums::default());
        assert_eq!(date_of_day(day).to_string(), "2025-01-01");
    }

    #[test]
    fn non_admins_only_see_their_own_rows() {
        let v = Viewer {
            user_id: 4,
            role: Role::InternalUser,
        };
        let asked = RollupFilter {
            user_id: Some(1),
            model: Some("m".into()),
            ..Default::default()
        };
        let scoped = v.scope(asked);
        assert_eq!(scoped.user_id, Some(4));
        assert_eq!(scoped.model.as_deref(), Some("m"));
        let admin = Viewer {
            user_id: 1,
            role: Role::ProxyAdmin,
        };
        assert_eq!(admin.scope(RollupFilter::default()).user_id, None);
    }
}
