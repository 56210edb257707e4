//! Budget counters held in memory: for every budgeted key, user and team pool, what
//! was spent in the current period and what is reserved by requests in flight.
//! In strict mode a request reserves its worst-case cost on every budget it draws on
//! before it is sent, atomically under one lock, so parallel requests cannot overspend;
//! settling swaps the reservation for the real cost. Periods roll over lazily, on the
//! request itself.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::budget::BudgetPeriod;
use super::directory::{Caller, Snapshot};
use crate::config::{BudgetEnforcement, UtcOffset};
use crate::db::keys::{self as key_rows, Owner};
use crate::db::rollups;
use crate::money::Nanos;

/// A budget that requests draw on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account {
    /// A key with its own budget.
    Key(i64),
    /// A user with a personal budget.
    User(i64),
    /// What a team has left for its keys without their own budget.
    TeamPool(i64),
}

#[derive(Debug, Clone, Copy, Default)]
struct Counter {
    period_start_ms: i64,
    /// Changes when what the counter measures changes (period kind, team allocation).
    basis: i64,
    spent: Nanos,
    reserved: Nanos,
}

/// One limit applying to a request.
#[derive(Debug, Clone)]
pub struct Limit {
    pub account: Account,
    /// `key`, `user` or `team`.
    pub kind: &'static str,
    /// Alias / username / team name.
    pub name: String,
    pub limit: Nanos,
    pub period: BudgetPeriod,
    basis: i64,
}

/// A budget that is spent: which, how much, and when it resets.
#[derive(Debug, Clone)]
pub struct BudgetRefusal {
    pub kind: &'static str,
    pub name: String,
    pub spent: Nanos,
    pub reserved: Nanos,
    pub limit: Nanos,
    pub request_max: Nanos,
    pub reset_at: Option<DateTime<Utc>>,
}

impl BudgetRefusal {
    /// The client message: which budget, spent, limit, reset time.
    pub fn message(&self) -> String {
        let reset = self
            .reset_at
            .map(|t| {
                format!(
                    "resets at {}",
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            })
            .unwrap_or_else(|| "lifetime budget, does not reset".into());
        let in_flight = if self.reserved > Nanos::ZERO {
            format!(
                " (+{} USD reserved by requests in flight)",
                self.reserved.format_usd(6)
            )
        } else {
            String::new()
        };
        format!(
            "Budget exceeded for {} {}: spent {} USD{in_flight} of {} USD; this request may cost up to {} USD; {reset}",
            self.kind,
            self.name,
            self.spent.format_usd(6),
            self.limit.format_usd(2),
            self.request_max.format_usd(6),
        )
    }
}

/// Money held for one request until it settles.
#[derive(Debug, Default)]
pub struct Reservation {
    accounts: Vec<Account>,
    amount: Nanos,
}

/// Spend and reservation state of a budget, for pages and headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub spent: Nanos,
    pub reserved: Nanos,
}

impl Standing {
    /// What `limit` leaves once spend and in-flight reservations are taken out.
    pub fn remaining(self, limit: Nanos) -> Nanos {
        limit
            .saturating_sub(self.spent)
            .saturating_sub(self.reserved)
    }
}

/// All counters.
#[derive(Debug)]
pub struct Budgets {
    counters: Mutex<HashMap<Account, Counter>>,
    offset: UtcOffset,
    mode: BudgetEnforcement,
}

fn basis(period: BudgetPeriod, extra: Nanos) -> i64 {
    (period as i64) ^ extra.0.wrapping_mul(31)
}

/// The budgets a caller's request draws on.
pub fn limits_of(caller: &Caller) -> Vec<Limit> {
    let mut out = Vec::with_capacity(3);
    if let Some(limit) = caller.key.max_budget {
        let period = caller.key.period;
        out.push(Limit {
            account: Account::Key(caller.key.id),
            kind: "key",
            name: caller.key.alias.clone(),
            limit,
            period,
            basis: basis(period, Nanos::ZERO),
        });
    }
    if let Some(user) = caller.user.as_ref() {
        if let Some(limit) = user.max_budget {
            out.push(Limit {
                account: Account::User(user.id),
                kind: "user",
                name: user.username.clone(),
                limit,
                period: user.period,
                basis: basis(user.period, Nanos::ZERO),
            });
        }
    }
    if let (None, Some(team)) = (caller.key.max_budget, caller.team.as_ref()) {
        if let Some(budget) = team.max_budget {
            out.push(team_pool_limit(team, budget));
        }
    }
    out
}

fn team_pool_limit(team: &super::directory::TeamEntry, budget: Nanos) -> Limit {
    Limit {
        account: Account::TeamPool(team.id),
        kind: "team",
        name: team.alias.clone(),
        limit: budget.saturating_sub(team.allocated),
        period: team.period,
        basis: basis(team.period, team.allocated),
    }
}

impl Budgets {
    /// Empty counters.
    pub fn new(offset: UtcOffset, mode: BudgetEnforcement) -> Budgets {
        Budgets {
            counters: Mutex::new(HashMap::new()),
            offset,
            mode,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Account, Counter>> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current<'a>(
        map: &'a mut HashMap<Account, Counter>,
        l: &Limit,
        start_ms: i64,
    ) -> &'a mut Counter {
        let c = map.entry(l.account).or_insert(Counter {
            period_start_ms: start_ms,
            basis: l.basis,
            ..Counter::default()
        });
        if c.period_start_ms != start_ms {
            c.period_start_ms = start_ms;
            c.spent = Nanos::ZERO;
        }
        c
    }

    /// Reserves `amount` on every budget of `caller`, or says which budget is spent.
    pub fn reserve(
        &self,
        caller: &Caller,
        amount: Nanos,
        now: DateTime<Utc>,
    ) -> Result<Reservation, BudgetRefusal> {
        let limits = limits_of(caller);
        let amount = if self.mode == BudgetEnforcement::Strict {
            amount
        } else {
            Nanos::ZERO
        };
        let mut map = self.lock();
        for l in &limits {
            let start = l.period.start(now, self.offset).timestamp_millis();
            let c = Self::current(&mut map, l, start);
            let committed = c.spent.saturating_add(c.reserved);
            let over = match self.mode {
                BudgetEnforcement::Strict => {
                    committed.saturating_add(amount) > l.limit || c.spent >= l.limit
                }
                BudgetEnforcement::Soft => c.spent >= l.limit,
            };
            if over {
                return Err(BudgetRefusal {
                    kind: l.kind,
                    name: l.name.clone(),
                    spent: c.spent,
                    reserved: c.reserved,
                    limit: l.limit,
                    request_max: amount,
                    reset_at: l.period.reset_at(now, self.offset),
                });
            }
        }
        for l in &limits {
            if let Some(c) = map.get_mut(&l.account) {
                c.reserved = c.reserved.saturating_add(amount);
            }
        }
        Ok(Reservation {
            accounts: limits.iter().map(|l| l.account).collect(),
            amount,
        })
    }

    /// Releases a reservation and books the real cost in the current period.
    pub fn settle(
        &self,
        reservation: Reservation,
        actual: Nanos,
        caller: &Caller,
        now: DateTime<Utc>,
    ) {
        let limits = limits_of(caller);
        let mut map = self.lock();
        for account in &reservation.accounts {
            if let Some(c) = map.get_mut(account) {
                c.reserved = c
                    .reserved
                    .saturating_sub(reservation.amount)
                    .max(Nanos::ZERO);
            }
        }
        for l in limits
            .iter()
            .filter(|l| reservation.accounts.contains(&l.account))
        {
            let start = l.period.start(now, self.offset).timestamp_millis();
            let c = Self::current(&mut map, l, start);
            c.spent = c.spent.saturating_add(actual);
        }
    }

    /// Spend and reservations of one budget in its current period.
    pub fn standing(&self, limit: &Limit, now: DateTime<Utc>) -> Standing {
        let start = limit.period.start(now, self.offset).timestamp_millis();
        let mut map = self.lock();
        let c = Self::current(&mut map, limit, start);
        Standing {
            spent: c.spent,
            reserved: c.reserved,
        }
    }

    /// Seeds counters from the rollups for budgets that are new or whose meaning
    /// changed (period kind, team allocation); counters already live are kept, since
    /// they may hold charges the ledger has not committed yet.
    pub fn seed_from_db(
        &self,
        conn: &Connection,
        snap: &Snapshot,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<()> {
        let mut wanted: Vec<(Limit, i64)> = Vec::new();
        for k in snap.keys.values() {
            let caller = snap.caller_of(k.clone());
            for l in limits_of(&caller) {
                let start = l.period.start(now, self.offset).timestamp_millis();
                let fresh = self
                    .lock()
                    .get(&l.account)
                    .is_none_or(|c| c.basis != l.basis || c.period_start_ms != start);
                if fresh && !wanted.iter().any(|(w, _)| w.account == l.account) {
                    wanted.push((l, start));
                }
            }
        }
        for (l, start) in wanted {
            let spent = match l.account {
                Account::Key(id) => rollups::spend_since(conn, rollups::SpendOf::Key, id, start)?,
                Account::User(id) => rollups::spend_since(conn, rollups::SpendOf::User, id, start)?,
                Account::TeamPool(id) => key_rows::committed(conn, Owner::Team(id), start, None)?.1,
            };
            let mut map = self.lock();
            let c = map.entry(l.account).or_default();
            *c = Counter {
                period_start_ms: start,
                basis: l.basis,
                spent,
                reserved: c.reserved,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::directory::KeyEntry;

    fn caller(budget: i64) -> Caller {
        Caller {
            key: Arc::new(KeyEntry {
                id: 7,
                token: "t".into(),
                alias: "k".into(),
                last4: "abcd".into(),
                user_id: None,
                team_id: None,
                max_budget: Some(Nanos(budget)),
                period: BudgetPeriod::Monthly,
                models: vec![],
                expires_at: None,
                blocked: false,
                rpm: None,
                tpm: None,
            }),
            user: None,
            team: None,
        }
    }

    #[test]
    fn parallel_reservations_cannot_overspend() {
        let b = Budgets::new(UtcOffset::default(), BudgetEnforcement::Strict);
        let c = caller(100);
        let now = Utc::now();
        let r1 = b.reserve(&c, Nanos(60), now).expect("fits");
        let refused = b.reserve(&c, Nanos(60), now).expect_err("would overspend");
        assert_eq!(refused.kind, "key");
        assert!(refused.message().contains("Budget exceeded for key k"));
        b.settle(r1, Nanos(10), &c, now);
        let r2 = b.reserve(&c, Nanos(60), now).expect("fits after settle");
        b.settle(r2, Nanos(60), &c, now);
        assert_eq!(
            b.standing(&limits_of(&c)[0], now),
            Standing {
                spent: Nanos(70),
                reserved: Nanos::ZERO
            }
        );
    }

    #[test]
    fn soft_mode_only_checks_spend() {
        let b = Budgets::new(UtcOffset::default(), BudgetEnforcement::Soft);
        let c = caller(100);
        let now = Utc::now();
        let r = b
            .reserve(&c, Nanos(1_000), now)
            .expect("soft ignores worst case");
        b.settle(r, Nanos(150), &c, now);
        assert!(b.reserve(&c, Nanos(1), now).is_err());
    }

    #[test]
    fn a_new_period_starts_from_zero() {
        let b = Budgets::new(UtcOffset::default(), BudgetEnforcement::Strict);
        let c = caller(100);
        let jan = DateTime::parse_from_rfc3339("2026-01-31T23:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let feb = DateTime::parse_from_rfc3339("2026-02-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = b.reserve(&c, Nanos(100), jan).unwrap();
        b.settle(r, Nanos(100), &c, jan);
        assert!(b.reserve(&c, Nanos(1), jan).is_err());
        assert!(b.reserve(&c, Nanos(1), feb).is_ok());
    }
}
