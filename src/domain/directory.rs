//! The proxy's in-memory view of keys, users and teams, so authentication and model
//! checks never touch SQLite on the async workers. It is rebuilt from the database at
//! start and after every admin write (`AppState::write`); budget counters
//! live beside it in [`super::reservations`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rusqlite::Connection;

use super::budget::BudgetPeriod;
use super::tokens::sha256_hex;
use crate::db::keys::{self as key_rows, KeyRow};
use crate::db::teams::{self as team_rows, TeamRow};
use crate::db::users::{self as user_rows, UserRow};
use crate::fast_map::FastMap;
use crate::money::Nanos;

/// A key, parsed for fast checks.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub id: i64,
    pub token: String,
    pub alias: String,
    pub last4: String,
    pub user_id: Option<i64>,
    pub team_id: Option<i64>,
    pub max_budget: Option<Nanos>,
    pub period: BudgetPeriod,
    /// Allowed client model names; empty = all.
    pub models: Vec<String>,
    pub expires_at: Option<i64>,
    pub blocked: bool,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
}

/// A user, parsed.
#[derive(Debug, Clone)]
pub struct UserEntry {
    pub id: i64,
    pub username: String,
    pub max_budget: Option<Nanos>,
    pub period: BudgetPeriod,
    pub disabled: bool,
}

/// A team, parsed, with what its keys' own budgets take out of it.
#[derive(Debug, Clone)]
pub struct TeamEntry {
    pub id: i64,
    pub team_id: String,
    pub alias: String,
    pub max_budget: Option<Nanos>,
    pub period: BudgetPeriod,
    pub models: Vec<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    /// Sum of the budgets of its keys that have one.
    pub allocated: Nanos,
}

/// Everything known about the caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: Arc<KeyEntry>,
    pub user: Option<Arc<UserEntry>>,
    pub team: Option<Arc<TeamEntry>>,
}

/// Why a key was refused at the door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    Unknown,
    Blocked,
    Expired,
    UserDisabled,
}

impl KeyRefusal {
    /// Message for the client (never echoing the key).
    pub fn message(&self) -> &'static str {
        match self {
            KeyRefusal::Unknown => "Invalid API key: no such virtual key",
            KeyRefusal::Blocked => "This API key has been blocked by an administrator",
            KeyRefusal::Expired => "This API key has expired",
            KeyRefusal::UserDisabled => "The user owning this API key is disabled",
        }
    }
}

/// One consistent copy of the entity tables.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub keys: FastMap<String, Arc<KeyEntry>>,
    pub users: FastMap<i64, Arc<UserEntry>>,
    pub teams: FastMap<i64, Arc<TeamEntry>>,
}

/// The directory: swap-on-reload snapshot behind a lock held only for a pointer copy.
#[derive(Debug, Default)]
pub struct Directory {
    current: RwLock<Arc<Snapshot>>,
    /// Counts replacements, so a request can tell whether its caller is still current.
    version: AtomicU64,
}

fn period(text: &Option<String>) -> BudgetPeriod {
    BudgetPeriod::parse(text.as_deref()).unwrap_or(BudgetPeriod::Lifetime)
}

fn to_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

fn key_entry(k: KeyRow) -> KeyEntry {
    KeyEntry {
        period: period(&k.budget_duration),
        models: super::input::models_from_json(&k.models),
        rpm: to_u32(k.rpm),
        tpm: k.tpm.and_then(|v| u64::try_from(v).ok()),
        id: k.id,
        token: k.token,
        alias: k.alias,
        last4: k.last4,
        user_id: k.user_id,
        team_id: k.team_id,
        max_budget: k.max_budget,
        expires_at: k.expires_at,
        blocked: k.blocked,
    }
}

fn team_entry(t: TeamRow, allocated: Nanos) -> TeamEntry {
    TeamEntry {
        period: period(&t.budget_duration),
        models: super::input::models_from_json(&t.models),
        rpm: to_u32(t.rpm),
        tpm: t.tpm.and_then(|v| u64::try_from(v).ok()),
        id: t.id,
        team_id: t.team_id,
        alias: t.alias,
        max_budget: t.max_budget,
        allocated,
    }
}

fn user_entry(u: UserRow) -> UserEntry {
    UserEntry {
        period: period(&u.budget_duration),
        id: u.id,
        username: u.username,
        max_budget: u.max_budget,
        disabled: u.disabled,
    }
}

impl Snapshot {
    /// Reads the three tables.
    pub fn read(conn: &Connection) -> rusqlite::Result<Snapshot> {
        let keys = key_rows::list(conn)?;
        let mut allocated: HashMap<i64, Nanos> = HashMap::new();
        for k in &keys {
            if let (Some(team), Some(budget)) = (k.team_id, k.max_budget) {
                let sum = allocated.entry(team).or_default();
                *sum = sum.saturating_add(budget);
            }
        }
        let teams = team_rows::list(conn)?
            .into_iter()
            .map(|t| {
                let a = allocated.get(&t.id).copied().unwrap_or_default();
                (t.id, Arc::new(team_entry(t, a)))
            })
            .collect();
        let users = user_rows::list(conn)?
            .into_iter()
            .map(|u| (u.id, Arc::new(user_entry(u))))
            .collect();
        let keys = keys
            .into_iter()
            .map(|k| (k.token.clone(), Arc::new(key_entry(k))))
            .collect();
        Ok(Snapshot { keys, users, teams })
    }
}

impl Directory {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the snapshot.
    pub fn replace(&self, snapshot: Snapshot) {
        let new = Arc::new(snapshot);
        match self.current.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Changes with every replacement; read it before taking a caller.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// `caller` as the directory has it now (budgets set, changed or removed since it
    /// was read), or `None` when its key is gone.
    pub fn current_caller(&self, caller: &Caller) -> Option<Caller> {
        let snap = self.snapshot();
        let key = snap.keys.get(&caller.key.token)?.clone();
        Some(snap.caller_of(key))
    }

    /// The caller behind a secret `sk-…` key, if it may be used at `now_ms`.
    pub fn authenticate(&self, secret: &str, now_ms: i64) -> Result<Caller, KeyRefusal> {
        let snap = self.snapshot();
        let key = snap
            .keys
            .get(&sha256_hex(secret))
            .cloned()
            .ok_or(KeyRefusal::Unknown)?;
        let caller = snap.caller_of(key);
        caller.usable(now_ms)?;
        Ok(caller)
    }
}

impl Snapshot {
    /// Joins a key with its user and team.
    pub fn caller_of(&self, key: Arc<KeyEntry>) -> Caller {
        Caller {
            user: key.user_id.and_then(|id| self.users.get(&id).cloned()),
            team: key.team_id.and_then(|id| self.teams.get(&id).cloned()),
            key,
        }
    }
}

impl Caller {
    /// Refuses blocked, expired and disabled-owner keys.
    pub fn usable(&self, now_ms: i64) -> Result<(), KeyRefusal> {
        if self.key.blocked {
            return Err(KeyRefusal::Blocked);
        }
        if self.key.expires_at.is_some_and(|t| t <= now_ms) {
            return Err(KeyRefusal::Expired);
        }
        if self.user.as_ref().is_some_and(|u| u.disabled) {
            return Err(KeyRefusal::UserDisabled);
        }
        Ok(())
    }

    /// True when both the key's and the team's model lists allow `model`.
    pub fn may_use(&self, model: &str) -> bool {
        let allows =
            |list: &[String]| list.is_empty() || list.iter().any(|m| m == model || m == "*");
        allows(&self.key.models) && self.team.as_ref().is_none_or(|t| allows(&t.models))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(models: &[&str]) -> KeyEntry {
        KeyEntry {
            id: 1,
            token: "t".into(),
            alias: "a".into(),
            last4: "abcd".into(),
            user_id: None,
            team_id: None,
            max_budget: None,
            period: BudgetPeriod::Lifetime,
            models: models.iter().map(|m| m.to_string()).collect(),
            expires_at: None,
            blocked: false,
            rpm: None,
            tpm: None,
        }
    }

    #[test]
    fn model_lists_and_expiry_are_enforced() {
        let c = Caller {
            key: Arc::new(key(&["gpt-4o"])),
            user: None,
            team: None,
        };
        assert!(c.may_use("gpt-4o"));
        assert!(!c.may_use("mistral-large"));
        let all = Caller {
            key: Arc::new(key(&[])),
            user: None,
            team: None,
        };
        assert!(all.may_use("anything"));
        let mut k = key(&[]);
        k.expires_at = Some(1000);
        let expired = Caller {
            key: Arc::new(k),
            user: None,
            team: None,
        };
        assert_eq!(expired.usable(999), Ok(()));
        assert_eq!(expired.usable(1000), Err(KeyRefusal::Expired));
    }
}
