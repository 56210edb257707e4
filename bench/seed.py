#!/usr/bin/env python3
"""Seeds a tollgate database (already migrated by one `tollgate serve` start) with
users, teams, virtual keys and request-log rows spread over the last 30 days, plus the
`usage_hourly` rollups that exactly match those rows (as the ledger would have written
them), so usage pages, log pages and exports can be timed at scale.

  python3 bench/seed.py --db tollgate.db [--rows 1000000] [--keys 1000] [--days 30]

Standard library only. Deterministic for a given --seed.
"""

import argparse
import hashlib
import random
import sqlite3
import time

MODELS = [
    # (client model name, provider, input $/Mtok, output $/Mtok, weight)
    ("gpt-4o", "openai", 2.5, 10.0, 4),
    ("gpt-4o-mini", "openai", 0.15, 0.6, 6),
    ("claude-3-5-sonnet", "anthropic", 3.0, 15.0, 3),
    ("gemini-pro", "gemini", 1.25, 5.0, 2),
    ("mistral-large", "mistral", 2.0, 6.0, 1),
]
ERRORS = [
    (429, "gpt-4o: Rate limit reached for requests"),
    (500, "claude-3-5-sonnet: The provider had an internal error"),
    (400, "Budget exceeded for key k-0001"),
]


def seed_entities(con, rng, n_keys, now_ms):
    n_users = max(1, n_keys // 20)
    n_teams = max(1, n_keys // 50)
    con.executemany(
        "INSERT INTO users (username, role, created_at, updated_at) VALUES (?, 'internal_user', ?, ?)",
        [(f"bench-user-{i:04d}", now_ms, now_ms) for i in range(n_users)],
    )
    users = [r[0] for r in con.execute("SELECT id FROM users WHERE username LIKE 'bench-user-%' ORDER BY id")]
    con.executemany(
        "INSERT INTO teams (team_id, alias, created_at, updated_at) VALUES (?, ?, ?, ?)",
        [(f"team-{i:04d}-{rng.getrandbits(32):08x}", f"bench-team-{i:04d}", now_ms, now_ms) for i in range(n_teams)],
    )
    teams = [r[0] for r in con.execute("SELECT id FROM teams WHERE alias LIKE 'bench-team-%' ORDER BY id")]
    rows = []
    for i in range(n_keys):
        token = hashlib.sha256(f"bench-seed-key-{i}".encode()).hexdigest()
        rows.append((token, f"k-{i:04d}", token[-4:], users[i % n_users], teams[i % n_teams], now_ms, now_ms))
    con.executemany(
        "INSERT INTO keys (token, alias, last4, user_id, team_id, models, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, '[]', ?, ?)",
        rows,
    )
    return [
        r for r in con.execute(
            "SELECT id, user_id, team_id FROM keys WHERE alias LIKE 'k-%' ORDER BY id"
        )
    ]


def log_rows(rng, keys, n_rows, start_ms, end_ms):
    span = end_ms - start_ms
    weights = [m[4] for m in MODELS]
    # Newer rows get larger ids, as in a real ledger.
    times = sorted(start_ms + rng.randrange(span) for _ in range(n_rows))
    for t in times:
        key_id, user_id, team_id = keys[rng.randrange(len(keys))]
        name, provider, pin, pout, _ = rng.choices(MODELS, weights)[0]
        stream = rng.random() < 0.2
        if rng.random() < 0.97:
            status, error = 200, None
            prompt = rng.randrange(20, 4000)
            completion = rng.randrange(1, 1000)
            cached = prompt // 2 if rng.random() < 0.1 else 0
            cost = round(prompt * pin * 1000 + completion * pout * 1000)
        else:
            status, error = rng.choice(ERRORS)
            prompt = completion = cached = cost = 0
        yield (
            "req_" + format(rng.getrandbits(96), "024x"),
            t, t + rng.randrange(200, 8000), key_id, user_id or 0, team_id or 0,
            name, provider, 0, int(status == 200), status, error,
            prompt, completion, cached, cost, int(stream),
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=1_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    started = time.time()
    now_ms = int(time.time() * 1000)
    con = sqlite3.connect(args.db, isolation_level=None)
    con.execute("PRAGMA synchronous = OFF")
    con.execute("BEGIN")
    keys = seed_entities(con, rng, args.keys, now_ms)
    con.executemany(
        "INSERT INTO request_logs (request_id, start_ms, end_ms, key_id, user_id, team_id, model,"
        " provider, deployment, success, http_status, error, prompt_tokens, completion_tokens,"
        " cached_tokens, cost, stream) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        log_rows(rng, keys, args.rows, now_ms - args.days * 86_400_000, now_ms),
    )
    # The rollups the ledger would have written for exactly these rows.
    con.execute(
        """INSERT INTO usage_hourly (hour, key_id, user_id, team_id, model, requests, successes,
               failures, prompt_tokens, completion_tokens, spend)
           SELECT start_ms / 3600000, key_id, user_id, team_id, model, COUNT(*), SUM(success),
                  SUM(1 - success), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost)
           FROM request_logs WHERE request_id LIKE 'req_%' AND key_id IN (SELECT id FROM keys WHERE alias LIKE 'k-%')
           GROUP BY 1, 2, 3, 4, 5
           ON CONFLICT (hour, key_id, user_id, team_id, model) DO UPDATE SET
               requests = requests + excluded.requests, successes = successes + excluded.successes,
               failures = failures + excluded.failures, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
               completion_tokens = completion_tokens + excluded.completion_tokens, spend = spend + excluded.spend"""
    )
    con.execute(
        "UPDATE keys SET last_used_at = (SELECT MAX(end_ms) FROM request_logs r WHERE r.key_id = keys.id)"
        " WHERE alias LIKE 'k-%'"
    )
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"seeded {args.rows} log rows, {args.keys} keys in {time.time() - started:.1f}s")


if __name__ == "__main__":
    main()
