//! Budget counters held in memory: for every budgeted key, user and team pool, what
//! was spent in the current period and what is reserved by requests in flight.
//! In strict mode a request reserves its worst-case cost on every budget it draws on
//! before it is sent, atomically under one lock, so parallel requests cannot overspend;
//! settling swaps the reservation for the real cost. Periods roll over lazily, on the
//! request itself.
//!
//! A settled charge reaches the ledger a few milliseconds later. Until the ledger has
//! written it, it is also kept here as pending, so that recounting a budget from the
//! database (a new budget, a new period kind, a new team allocation) adds what the
//! database does not have yet: see [`Budgets::seed_from_db`].

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::budget::BudgetPeriod;
use super::directory::{Caller, Snapshot};
use crate::config::{BudgetEnforcement, UtcOffset};
use crate::db::keys::{self as key_rows, Owner};
use crate::db::rollups;
use crate::fast_map::FastMap;
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

/// A settled charge the ledger has not written yet.
#[derive(Debug)]
struct PendingCharge {
    key_id: i64,
    user_id: Option<i64>,
    cost: Nanos,
    /// When its request started: the database counts a charge in the period its
    /// request started in.
    start_ms: i64,
}

/// What the budget lock guards.
#[derive(Debug, Default)]
struct State {
    counters: FastMap<Account, Counter>,
    /// By charge number (see [`Budgets::settle`]).
    pending: FastMap<u64, PendingCharge>,
    last_charge: u64,
}

/// All counters.
#[derive(Debug)]
pub struct Budgets {
    state: Mutex<State>,
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
            state: Mutex::new(State::default()),
            offset,
            mode,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current<'a>(
        map: &'a mut FastMap<Account, Counter>,
        l: &Limit,
        start_ms: i64,
    ) -> &'a mut Counter {
        let c = map.entry(l.account).or_insert(Counter {
            period_start_ms: start_ms,
            basis: l.basis,
            ..Counter::default()
        });
        // A caller read before a budget changed (period kind, team allocation) has the
        // old basis; it must not turn the recounted counter back to the old period.
        if c.basis == l.basis && c.period_start_ms != start_ms {
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
        let mut st = self.lock();
        let map = &mut st.counters;
        for l in &limits {
            let start = l.period.start(now, self.offset).timestamp_millis();
            let c = Self::current(map, l, start);
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

    /// Releases a reservation and books the real cost on `caller`'s budgets in their
    /// current period (`caller` may be newer than the one that reserved, when budgets
    /// changed meanwhile). Returns the charge's number, which its log record carries to
    /// the ledger (0: nothing was booked); the charge stays pending until
    /// [`Budgets::recorded`] hears the ledger wrote it.
    pub fn settle(
        &self,
        reservation: Reservation,
        actual: Nanos,
        caller: &Caller,
        now: DateTime<Utc>,
        started_ms: i64,
    ) -> u64 {
        let limits = limits_of(caller);
        let mut st = self.lock();
        // Kept even when no budget applies now: one may be set before the ledger writes it.
        let charge = if actual <= Nanos::ZERO {
            0
        } else {
            st.last_charge += 1;
            let number = st.last_charge;
            let pending = PendingCharge {
                key_id: caller.key.id,
                user_id: caller.key.user_id,
                cost: actual,
                start_ms: started_ms,
            };
            st.pending.insert(number, pending);
            number
        };
        let map = &mut st.counters;
        for account in &reservation.accounts {
            if let Some(c) = map.get_mut(account) {
                c.reserved = c
                    .reserved
                    .saturating_sub(reservation.amount)
                    .max(Nanos::ZERO);
            }
        }
        for l in &limits {
            let start = l.period.start(now, self.offset).timestamp_millis();
            let c = Self::current(map, l, start);
            // Against a recounted counter, a charge counts when its request started in
            // the counter's period, as the database counts it.
            if c.basis == l.basis || started_ms >= c.period_start_ms {
                c.spent = c.spent.saturating_add(actual);
            }
        }
        charge
    }

    /// The ledger has written these charges (numbers from [`Budgets::settle`]; 0 is
    /// skipped): the database counts them from now on.
    pub fn recorded(&self, charges: impl Iterator<Item = u64>) {
        let mut st = self.lock();
        for number in charges.filter(|&n| n != 0) {
            st.pending.remove(&number);
        }
    }

    /// Spend and reservations of one budget in its current period.
    pub fn standing(&self, limit: &Limit, now: DateTime<Utc>) -> Standing {
        let start = limit.period.start(now, self.offset).timestamp_millis();
        let mut st = self.lock();
        let c = Self::current(&mut st.counters, limit, start);
        Standing {
            spent: c.spent,
            reserved: c.reserved,
        }
    }

    /// Seeds counters from the rollups for budgets that are new or whose meaning
    /// changed (period kind, team allocation); counters already live are kept.
    ///
    /// Exact only between two ledger commits, on the ledger's thread (see
    /// `AppState::entities_changed`): the database then holds every charge the ledger
    /// was told about, and pending holds the others, including those settled while
    /// this runs. A seed is the database's spend plus the pending charges of the
    /// budget's period.
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
                    .counters
                    .get(&l.account)
                    .is_none_or(|c| c.basis != l.basis || c.period_start_ms != start);
                if fresh && !wanted.iter().any(|(w, _)| w.account == l.account) {
                    wanted.push((l, start));
                }
            }
        }
        let mut written = Vec::with_capacity(wanted.len());
        for (l, start) in wanted {
            let spent = match l.account {
                Account::Key(id) => rollups::spend_since(conn, rollups::SpendOf::Key, id, start)?,
                Account::User(id) => rollups::spend_since(conn, rollups::SpendOf::User, id, start)?,
                Account::TeamPool(id) => key_rows::committed(conn, Owner::Team(id), start, None)?.1,
            };
            written.push((l, start, spent));
        }
        // A team pool counts the spend of the team's keys without a budget of their own.
        let pool_of: HashMap<i64, i64> = snap
            .keys
            .values()
            .filter(|k| k.max_budget.is_none())
            .filter_map(|k| Some((k.id, k.team_id?)))
            .collect();
        let counts_for = |account: Account, p: &PendingCharge| match account {
            Account::Key(id) => p.key_id == id,
            Account::User(id) => p.user_id == Some(id),
            Account::TeamPool(id) => pool_of.get(&p.key_id) == Some(&id),
        };
        let mut st = self.lock();
        for (l, start, written) in written {
            let pending = st
                .pending
                .values()
                .filter(|p| p.start_ms >= start && counts_for(l.account, p))
                .fold(Nanos::ZERO, |sum, p| sum.saturating_add(p.cost));
            let c = st.counters.entry(l.account).or_default();
            *c = Counter {
                period_start_ms: start,
                basis: l.basis,
                spent: written.saturating_add(pending),
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

    fn key(budget: i64, period: BudgetPeriod) -> Arc<KeyEntry> {
        Arc::new(KeyEntry {
            id: 7,
            token: "t".into(),
            alias: "k".into(),
            last4: "abcd".into(),
            user_id: None,
            team_id: None,
            max_budget: Some(Nanos(budget)),
            period,
            models: vec![],
            expires_at: None,
            blocked: false,
            rpm: None,
            tpm: None,
        })
    }

    fn caller(budget: i64) -> Caller {
        Caller {
            key: key(budget, BudgetPeriod::Monthly),
            user: None,
            team: None,
        }
    }

    fn snapshot_with(key: Arc<KeyEntry>) -> Snapshot {
        Snapshot {
            keys: [(key.token.clone(), key)].into_iter().collect(),
            users: FastMap::default(),
            teams: FastMap::default(),
        }
    }

    /// An empty database, a fixed Wednesday noon and strict budgets.
    fn recount_fixture() -> (Connection, DateTime<Utc>, Budgets) {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        let now = DateTime::parse_from_rfc3339("2026-03-18T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let budgets = Budgets::new(UtcOffset::default(), BudgetEnforcement::Strict);
        (conn, now, budgets)
    }

    #[test]
    fn a_recount_adds_the_charges_the_ledger_has_not_written() {
        use crate::db::logs_write::{LogInserter, LogRecord, Rollups};
        let (mut conn, now, b) = recount_fixture();
        let started = now.timestamp_millis();
        let c = caller(1_000);
        let charge = |cost: i64, started_ms: i64| {
            let r = b.reserve(&c, Nanos(100), now).expect("fits");
            b.settle(r, Nanos(cost), &c, now, started_ms)
        };
        let first = charge(30, started);
        let _second = charge(40, started);
        // Pending too, but its request started 40 days ago: not in this period.
        let _old = charge(5, started - 40 * 86_400_000);
        let spent_after_recount = |conn: &Connection, period: BudgetPeriod| {
            let k = key(1_000, period);
            b.seed_from_db(conn, &snapshot_with(k.clone()), now)
                .unwrap();
            let caller = Caller {
                key: k,
                user: None,
                team: None,
            };
            b.standing(&limits_of(&caller)[0], now).spent
        };
        // Nothing written yet: the recount is all pending charges of the period.
        assert_eq!(spent_after_recount(&conn, BudgetPeriod::Daily), Nanos(70));
        // The ledger writes the first charge: the database counts it, pending not.
        let tx = conn.transaction().unwrap();
        let record = LogRecord {
            request_id: "r1".into(),
            start_ms: started,
            end_ms: started,
            key_id: 7,
            model: "m".into(),
            cost: 30,
            charge: first,
            ..LogRecord::default()
        };
        LogInserter::new(&tx).insert(&record).unwrap();
        let mut rollups = Rollups::default();
        rollups.add(&record);
        rollups.write(&tx, 0).unwrap();
        tx.commit().unwrap();
        b.recorded([record.charge, 0].into_iter());
        assert_eq!(spent_after_recount(&conn, BudgetPeriod::Weekly), Nanos(70));
        // A lifetime budget counts the old charge as well.
        assert_eq!(
            spent_after_recount(&conn, BudgetPeriod::Lifetime),
            Nanos(75)
        );
    }

    #[test]
    fn a_request_that_started_before_its_budget_changed_still_counts() {
        let (conn, now, b) = recount_fixture();
        let lifetime = Caller {
            key: key(1_000, BudgetPeriod::Lifetime),
            user: None,
            team: None,
        };
        let daily = Caller {
            key: key(1_000, BudgetPeriod::Daily),
            user: None,
            team: None,
        };
        b.seed_from_db(&conn, &snapshot_with(lifetime.key.clone()), now)
            .unwrap();
        // In flight while the key becomes daily: reserved under the old period kind.
        let in_flight = b.reserve(&lifetime, Nanos(100), now).expect("fits");
        b.seed_from_db(&conn, &snapshot_with(daily.key.clone()), now)
            .unwrap();
        let r = b.reserve(&daily, Nanos(100), now).expect("fits");
        b.settle(r, Nanos(20), &daily, now, now.timestamp_millis());
        // It settles with its old view of the key: the daily counter keeps its spend
        // and gains this charge, which started today.
        b.settle(in_flight, Nanos(30), &lifetime, now, now.timestamp_millis());
        let limit = &limits_of(&daily)[0];
        assert_eq!(
            b.standing(limit, now),
            Standing {
                spent: Nanos(50),
                reserved: Nanos::ZERO
            }
        );
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
        b.settle(r1, Nanos(10), &c, now, 0);
        let r2 = b.reserve(&c, Nanos(60), now).expect("fits after settle");
        b.settle(r2, Nanos(60), &c, now, 0);
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
        b.settle(r, Nanos(150), &c, now, 0);
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
        b.settle(r, Nanos(100), &c, jan, 0);
        assert!(b.reserve(&c, Nanos(1), jan).is_err());
        assert!(b.reserve(&c, Nanos(1), feb).is_ok());
    }
}
