//! Test data written straight into the app's SQLite file, the way the ledger and the
//! entity pages will write it: teams, users, keys, and request-log rows whose hourly
//! rollup is upserted in the same transaction (so rollup sums == log sums).

#![allow(dead_code)]

use rusqlite::{params, Connection};
use tollgate::domain::tokens::sha256_hex;

use crate::helpers::TestApp;

/// A connection to the test app's database.
pub struct Seeder {
    pub conn: Connection,
    /// The app's utc_offset, for the daily rollups.
    offset_s: i64,
}

/// One request as the ledger would record it.
#[derive(Debug, Clone)]
pub struct SeedRequest {
    pub request_id: String,
    pub start_ms: i64,
    pub latency_ms: i64,
    pub key_id: i64,
    pub user_id: i64,
    pub team_id: i64,
    pub model: String,
    pub provider: String,
    pub success: bool,
    pub http_status: i64,
    pub error: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost: i64,
    pub bodies: Option<(String, String)>,
}

impl SeedRequest {
    /// A successful request of `model` started at `start_ms`, 10 + 20 tokens, $0.000123.
    pub fn new(model: &str, start_ms: i64) -> SeedRequest {
        SeedRequest {
            request_id: format!("req-{}", tollgate::domain::tokens::random_base62(16)),
            start_ms,
            latency_ms: 850,
            key_id: 0,
            user_id: 0,
            team_id: 0,
            model: model.to_string(),
            provider: "openai".to_string(),
            success: true,
            http_status: 200,
            error: None,
            prompt_tokens: 10,
            completion_tokens: 20,
            cost: 123_000,
            bodies: None,
        }
    }

    /// Charged to `key` (its user and team).
    pub fn by(mut self, key: &SeedKey) -> SeedRequest {
        self.key_id = key.id;
        self.user_id = key.user_id;
        self.team_id = key.team_id;
        self
    }

    /// Sets tokens and cost.
    pub fn usage(mut self, prompt: i64, completion: i64, cost: i64) -> SeedRequest {
        self.prompt_tokens = prompt;
        self.completion_tokens = completion;
        self.cost = cost;
        self
    }

    /// A refusal/failure with `status` and `error`, no tokens, no cost.
    pub fn failed(mut self, status: i64, error: &str) -> SeedRequest {
        self.success = false;
        self.http_status = status;
        self.error = Some(error.to_string());
        self.prompt_tokens = 0;
        self.completion_tokens = 0;
        self.cost = 0;
        self
    }
}

/// A seeded key.
#[derive(Debug, Clone)]
pub struct SeedKey {
    pub id: i64,
    pub token: String,
    pub alias: String,
    pub user_id: i64,
    pub team_id: i64,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Seeder {
    /// Opens the app's database file.
    pub fn open(app: &TestApp) -> Seeder {
        let conn = Connection::open(&app.db_path).expect("open test db");
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        let offset_s = i64::from(app.state.config.server.utc_offset.seconds);
        Seeder { conn, offset_s }
    }

    /// A team; returns its row id. Its public id is `team-{alias}`.
    pub fn team(&self, alias: &str) -> i64 {
        self.conn
            .execute(
                "INSERT INTO teams (team_id, alias, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                params![format!("team-{alias}"), alias, now()],
            )
            .unwrap();
        self.conn.last_insert_rowid()
    }

    /// A user who can log in with `password`; returns the row id.
    pub fn user(&self, username: &str, role: &str, password: &str) -> i64 {
        let hash = tollgate::domain::auth::hash_password(password).unwrap();
        self.conn
            .execute(
                "INSERT INTO users (username, role, password_hash, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![username, role, hash, now()],
            )
            .unwrap();
        self.conn.last_insert_rowid()
    }

    /// A key of `user_id` in `team_id` (0 = none).
    pub fn key(&self, alias: &str, user_id: i64, team_id: i64) -> SeedKey {
        let token = sha256_hex(&format!("sk-{alias}"));
        let opt = |id: i64| (id != 0).then_some(id);
        self.conn
            .execute(
                "INSERT INTO keys (token, alias, last4, user_id, team_id, created_at, updated_at) \
                 VALUES (?1, ?2, 'abcd', ?3, ?4, ?5, ?5)",
                params![token, alias, opt(user_id), opt(team_id), now()],
            )
            .unwrap();
        SeedKey {
            id: self.conn.last_insert_rowid(),
            token,
            alias: alias.to_string(),
            user_id,
            team_id,
        }
    }

    /// Writes the log row, its bodies and its rollup in one transaction, like the ledger.
    pub fn request(&mut self, r: &SeedRequest) -> i64 {
        let tx = self.conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO request_logs (request_id, start_ms, end_ms, key_id, user_id, team_id, \
             model, provider, deployment, success, http_status, error, prompt_tokens, \
             completion_tokens, cost) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,0,?9,?10,?11,?12,?13,?14)",
            params![
                r.request_id,
                r.start_ms,
                r.start_ms + r.latency_ms,
                r.key_id,
                r.user_id,
                r.team_id,
                r.model,
                r.provider,
                r.success,
                r.http_status,
                r.error,
                r.prompt_tokens,
                r.completion_tokens,
                r.cost
            ],
        )
        .unwrap();
        let id = tx.last_insert_rowid();
        if let Some((req, resp)) = &r.bodies {
            tx.execute(
                "INSERT INTO request_bodies (log_id, request, response) VALUES (?1, ?2, ?3)",
                params![id, req, resp],
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO usage_hourly (hour, key_id, user_id, team_id, model, requests, successes, \
             failures, prompt_tokens, completion_tokens, spend) VALUES (?1,?2,?3,?4,?5,1,?6,?7,?8,?9,?10) \
             ON CONFLICT (hour, key_id, user_id, team_id, model) DO UPDATE SET \
             requests = requests + 1, successes = successes + excluded.successes, \
             failures = failures + excluded.failures, \
             prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
             completion_tokens = completion_tokens + excluded.completion_tokens, \
             spend = spend + excluded.spend",
            params![
                r.start_ms.div_euclid(3_600_000), r.key_id, r.user_id, r.team_id, r.model,
                i64::from(r.success), i64::from(!r.success), r.prompt_tokens,
                r.completion_tokens, r.cost
            ],
        )
        .unwrap();
        tx.execute(
            &tollgate::db::rollups::upsert_sql("usage_daily", "day"),
            params![
                tollgate::db::rollups::day_of_hour(r.start_ms.div_euclid(3_600_000), self.offset_s),
                r.key_id,
                r.user_id,
                r.team_id,
                r.model,
                1,
                i64::from(r.success),
                i64::from(!r.success),
                r.prompt_tokens,
                r.completion_tokens,
                r.cost
            ],
        )
        .unwrap();
        tx.commit().unwrap();
        id
    }

    /// Sums of the log rows started in `[from_ms, to_ms)`, optionally of one user:
    /// (requests, successes, failures, prompt, completion, cost).
    pub fn log_sums(&self, from_ms: i64, to_ms: i64, user_id: Option<i64>) -> [i64; 6] {
        self.conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(success), 0), COALESCE(SUM(1 - success), 0), \
                 COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), \
                 COALESCE(SUM(cost), 0) FROM request_logs \
                 WHERE start_ms >= ?1 AND start_ms < ?2 AND (?3 IS NULL OR user_id = ?3)",
                params![from_ms, to_ms, user_id],
                |r| {
                    Ok([
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ])
                },
            )
            .unwrap()
    }
}

/// The walkthrough's cast: team 研发 with zhangsan (internal_user) and lisi, each with a
/// key; plus an admin-owned key outside any team.
pub struct Cast {
    pub team: i64,
    pub zhangsan: i64,
    pub lisi: i64,
    pub zs_key: SeedKey,
    pub ls_key: SeedKey,
    pub loose_key: SeedKey,
}

/// Password of the seeded users.
pub const USER_PASSWORD: &str = "user-password-1";

impl Seeder {
    /// Seeds the [`Cast`].
    pub fn cast(&self) -> Cast {
        let team = self.team("研发");
        let zhangsan = self.user("zhangsan", "internal_user", USER_PASSWORD);
        let lisi = self.user("lisi", "internal_user", USER_PASSWORD);
        Cast {
            team,
            zhangsan,
            lisi,
            zs_key: self.key("zhangsan-key", zhangsan, team),
            ls_key: self.key("lisi-key", lisi, team),
            loose_key: self.key("=cmd|' /C calc'!A0", 1, 0),
        }
    }
}
