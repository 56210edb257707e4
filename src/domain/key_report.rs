//! Explains a virtual key completely, from the gateway's memory: whether it works now
//! and why not, who owns it, what it may use, and for each budget it draws on the
//! limit, this period's spend, what is reserved in flight, what remains and when the
//! period resets. Used by the 密钥调试 page; never echoes the secret.

use chrono::{DateTime, Utc};

use super::directory::{Caller, Directory, KeyRefusal};
use super::reservations::{limits_of, Budgets};
use super::tokens::sha256_hex;
use crate::config::UtcOffset;
use crate::money::Nanos;

/// One budget line of the report.
#[derive(Debug, Clone)]
pub struct BudgetLine {
    /// `key`, `user` or `team`.
    pub kind: &'static str,
    /// Alias, username or team name.
    pub name: String,
    pub limit: Nanos,
    pub spent: Nanos,
    pub reserved: Nanos,
    pub remaining: Nanos,
    /// `daily`/`weekly`/`monthly`, or None for lifetime.
    pub period: Option<&'static str>,
    pub resets_at: Option<DateTime<Utc>>,
}

/// Why a key does not work right now.
#[derive(Debug, Clone)]
pub enum Problem {
    /// Blocked, expired, or its user disabled.
    Refused(KeyRefusal),
    /// One of its budgets (the line at this index of `budgets`) is spent.
    BudgetSpent(usize),
}

/// What the gateway knows of a key.
#[derive(Debug, Clone)]
pub struct KeyReport {
    /// None when the key works right now; else why not.
    pub problem: Option<Problem>,
    pub alias: String,
    pub masked: String,
    pub owner: Option<String>,
    pub team: Option<String>,
    /// Empty = every configured model.
    pub models: Vec<String>,
    pub budgets: Vec<BudgetLine>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Masked form of a key: `sk-…abcd`.
pub fn mask(last4: &str) -> String {
    format!("sk-…{last4}")
}

/// Builds the report, or says the key is unknown.
pub fn inspect(
    directory: &Directory,
    budgets: &Budgets,
    offset: UtcOffset,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<KeyReport, KeyRefusal> {
    let snap = directory.snapshot();
    let key = snap
        .keys
        .get(&sha256_hex(secret.trim()))
        .cloned()
        .ok_or(KeyRefusal::Unknown)?;
    let caller = snap.caller_of(key);
    let lines = budget_lines(&caller, budgets, offset, now);
    let problem = match caller.usable(now.timestamp_millis()) {
        Err(refusal) => Some(Problem::Refused(refusal)),
        Ok(()) => lines
            .iter()
            .position(|l| l.remaining <= Nanos::ZERO)
            .map(Problem::BudgetSpent),
    };
    let k = &caller.key;
    Ok(KeyReport {
        problem,
        alias: k.alias.clone(),
        masked: mask(&k.last4),
        owner: caller.user.as_ref().map(|u| u.username.clone()),
        team: caller.team.as_ref().map(|t| t.alias.clone()),
        models: k.models.clone(),
        budgets: lines,
        rpm: k.rpm,
        tpm: k.tpm,
        expires_at: k
            .expires_at
            .and_then(DateTime::<Utc>::from_timestamp_millis),
    })
}

fn budget_lines(
    caller: &Caller,
    budgets: &Budgets,
    offset: UtcOffset,
    now: DateTime<Utc>,
) -> Vec<BudgetLine> {
    limits_of(caller)
        .into_iter()
        .map(|l| {
            let s = budgets.standing(&l, now);
            BudgetLine {
                kind: l.kind,
                name: l.name.clone(),
                limit: l.limit,
                spent: s.spent,
                reserved: s.reserved,
                remaining: s.remaining(l.limit),
                period: l.period.as_stored(),
                resets_at: l.period.reset_at(now, offset),
            }
        })
        .collect()
}
