//! Requests-per-minute and tokens-per-minute limits, in memory, on fixed one-minute
//! windows. Used for keys, teams (refusing with 429 + Retry-After) and deployments
//! (routing around a busy one).

use std::sync::Mutex;

use crate::domain::directory::Caller;
use crate::fast_map::FastMap;

/// One entity's current minute.
#[derive(Debug)]
pub struct Window {
    rpm: Option<u32>,
    tpm: Option<u64>,
    state: Mutex<(i64, u32, u64)>,
}

impl Window {
    /// A window with optional limits.
    pub fn new(rpm: Option<u32>, tpm: Option<u64>) -> Window {
        Window {
            rpm,
            tpm,
            state: Mutex::new((0, 0, 0)),
        }
    }

    fn with<T>(&self, now_s: i64, f: impl FnOnce(&mut (i64, u32, u64)) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now_s.div_euclid(60);
        if s.0 != minute {
            *s = (minute, 0, 0);
        }
        f(&mut s)
    }

    /// True when another request fits this minute.
    pub fn has_room(&self, now_s: i64) -> bool {
        self.with(now_s, |s| {
            self.rpm.is_none_or(|r| s.1 < r) && self.tpm.is_none_or(|t| s.2 < t)
        })
    }

    /// Counts a request.
    pub fn count_request(&self, now_s: i64) {
        self.with(now_s, |s| s.1 = s.1.saturating_add(1));
    }

    /// Counts a request if it fits, else says which limit is hit.
    pub fn admit(&self, now_s: i64) -> Result<(), &'static str> {
        self.with(now_s, |s| {
            if self.rpm.is_some_and(|r| s.1 >= r) {
                return Err("rpm");
            }
            if self.tpm.is_some_and(|t| s.2 >= t) {
                return Err("tpm");
            }
            s.1 = s.1.saturating_add(1);
            Ok(())
        })
    }

    /// Takes back a request counted by `admit` in the same minute (a later limit
    /// refused it).
    fn uncount_request(&self, now_s: i64) {
        self.with(now_s, |s| s.1 = s.1.saturating_sub(1));
    }

    /// Counts tokens used.
    pub fn count_tokens(&self, now_s: i64, tokens: u64) {
        self.with(now_s, |s| s.2 = s.2.saturating_add(tokens));
    }
}

/// Which entity a window belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limited {
    /// A key (by id).
    Key(i64),
    /// A team (by id).
    Team(i64),
}

/// The limited entities (key, team) of a caller, with their rpm/tpm limits.
pub fn limited_entities(caller: &Caller) -> Vec<(Limited, Option<u32>, Option<u64>)> {
    let mut out = vec![(Limited::Key(caller.key.id), caller.key.rpm, caller.key.tpm)];
    if let Some(t) = &caller.team {
        out.push((Limited::Team(t.id), t.rpm, t.tpm));
    }
    out
}

/// Windows of keys and teams that have limits.
#[derive(Debug, Default)]
pub struct RateLimits {
    windows: Mutex<FastMap<Limited, std::sync::Arc<Window>>>,
}

/// A limit that is hit.
#[derive(Debug, Clone)]
pub struct LimitHit {
    /// `key` or `team`.
    pub who: &'static str,
    /// `rpm` or `tpm`.
    pub what: &'static str,
    /// Seconds until the window resets.
    pub retry_after_s: u64,
}

impl RateLimits {
    fn window(&self, who: Limited, rpm: Option<u32>, tpm: Option<u64>) -> std::sync::Arc<Window> {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let w = map
            .entry(who)
            .or_insert_with(|| std::sync::Arc::new(Window::new(rpm, tpm)));
        if w.rpm != rpm || w.tpm != tpm {
            *w = std::sync::Arc::new(Window::new(rpm, tpm));
        }
        w.clone()
    }

    /// Admits one request for each limited entity, or names the limit hit. A request
    /// refused by any limit counts against none: what earlier entities counted is
    /// taken back.
    pub fn admit(
        &self,
        entities: &[(Limited, Option<u32>, Option<u64>)],
        now_s: i64,
    ) -> Result<(), LimitHit> {
        let mut counted: Vec<std::sync::Arc<Window>> = Vec::new();
        for (who, rpm, tpm) in entities.iter().filter(|e| e.1.is_some() || e.2.is_some()) {
            let window = self.window(*who, *rpm, *tpm);
            if let Err(what) = window.admit(now_s) {
                for w in &counted {
                    w.uncount_request(now_s);
                }
                let label = match who {
                    Limited::Key(_) => "key",
                    Limited::Team(_) => "team",
                };
                return Err(LimitHit {
                    who: label,
                    what,
                    retry_after_s: (60 - now_s.rem_euclid(60)).max(1) as u64,
                });
            }
            counted.push(window);
        }
        Ok(())
    }

    /// Counts tokens of a finished request.
    pub fn count_tokens(
        &self,
        entities: &[(Limited, Option<u32>, Option<u64>)],
        now_s: i64,
        tokens: u64,
    ) {
        for (who, rpm, tpm) in entities.iter().filter(|e| e.2.is_some()) {
            self.window(*who, *rpm, *tpm).count_tokens(now_s, tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_resets_every_minute() {
        let w = Window::new(Some(2), None);
        assert!(w.admit(120).is_ok());
        assert!(w.admit(121).is_ok());
        assert_eq!(w.admit(150), Err("rpm"));
        assert!(w.admit(180).is_ok());
    }

    #[test]
    fn tpm_counts_tokens() {
        let limits = RateLimits::default();
        let e = [(Limited::Key(1), None, Some(100))];
        assert!(limits.admit(&e, 0).is_ok());
        limits.count_tokens(&e, 0, 150);
        let hit = limits.admit(&e, 10).unwrap_err();
        assert_eq!((hit.who, hit.what, hit.retry_after_s), ("key", "tpm", 50));
    }

    #[test]
    fn a_request_the_team_refuses_does_not_count_against_the_key() {
        let limits = RateLimits::default();
        let e = [
            (Limited::Key(1), Some(5), None),
            (Limited::Team(7), Some(1), None),
        ];
        assert!(limits.admit(&e, 0).is_ok());
        for _ in 0..10 {
            assert_eq!(limits.admit(&e, 1).unwrap_err().who, "team");
        }
        // The key alone (moved out of the team) still has 4 of its 5 left.
        let key_only = [(Limited::Key(1), Some(5), None)];
        for _ in 0..4 {
            assert!(limits.admit(&key_only, 2).is_ok());
        }
        assert_eq!(limits.admit(&key_only, 2).unwrap_err().who, "key");
    }
}
