#!/usr/bin/env python3
"""Database helpers for bench/run.sh (standard library only).

  db.py add-key DB          insert a virtual key (large lifetime budget), print its secret
  db.py size DB             checkpoint the WAL and print the file size in bytes
  db.py ledger DB BEFORE    after a graceful stop: ledger rows, rollup consistency and
                            on-disk cost, as KEY=VALUE lines for the report
"""

import hashlib
import os
import secrets
import sqlite3
import string
import sys
import time

ALPHABET = string.ascii_letters + string.digits


def add_key(db):
    secret = "sk-" + "".join(secrets.choice(ALPHABET) for _ in range(40))
    token = hashlib.sha256(secret.encode()).hexdigest()
    now = int(time.time() * 1000)
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "INSERT INTO keys (token, alias, last4, max_budget, models, created_at, updated_at)"
            " VALUES (?, 'bench', ?, ?, '[]', ?, ?)",
            (token, secret[-4:], 1_000_000 * 10**9, now, now),
        )
    con.close()
    print(secret)


def size(db):
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    total = os.path.getsize(db)
    wal = db + "-wal"
    if os.path.exists(wal):
        total += os.path.getsize(wal)
    return total


def one(con, sql):
    return con.execute(sql).fetchone()[0]


def table_bytes(con, names):
    """Bytes of pages used by the named tables and indexes (dbstat), or None."""
    try:
        marks = ",".join("?" for _ in names)
        return con.execute(
            f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", names
        ).fetchone()[0]
    except sqlite3.OperationalError:
        return None


def ledger(db, before):
    after = size(db)
    con = sqlite3.connect(db)
    rows = one(con, "SELECT COUNT(*) FROM request_logs")
    ok = one(con, "SELECT COUNT(*) FROM request_logs WHERE http_status = 200")
    rollup_requests = one(con, "SELECT COALESCE(SUM(requests), 0) FROM usage_hourly")
    log_cost = one(con, "SELECT COALESCE(SUM(cost), 0) FROM request_logs")
    rollup_cost = one(con, "SELECT COALESCE(SUM(spend), 0) FROM usage_hourly")
    mismatched_keys = one(
        con,
        """SELECT COUNT(*) FROM (
             SELECT * FROM (SELECT key_id, COUNT(*), SUM(cost) FROM request_logs GROUP BY key_id
                            EXCEPT
                            SELECT key_id, SUM(requests), SUM(spend) FROM usage_hourly GROUP BY key_id)
             UNION ALL
             SELECT * FROM (SELECT key_id, SUM(requests), SUM(spend) FROM usage_hourly GROUP BY key_id
                            EXCEPT
                            SELECT key_id, COUNT(*), SUM(cost) FROM request_logs GROUP BY key_id))""",
    )
    indexes = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'request_logs'"
        )
    ]
    log_bytes = table_bytes(con, ["request_logs"] + indexes)
    con.close()
    per_row = round(log_bytes / rows) if rows and log_bytes else "n/a"
    growth = round((after - before) * 1000 / rows) if rows else "n/a"
    print(f"LEDGER_ROWS={rows}")
    print(f"LEDGER_OK_ROWS={ok}")
    print(f"ROLLUP_REQUESTS={rollup_requests}")
    print(f"LOG_COST={log_cost}")
    print(f"ROLLUP_COST={rollup_cost}")
    print(f"ROLLUP_MISMATCHED_KEYS={mismatched_keys}")
    print(f"LOG_ROW_BYTES={per_row}")
    print(f"DB_BYTES_BEFORE={before}")
    print(f"DB_BYTES_AFTER={after}")
    print(f"DB_GROWTH_PER_1000={growth}")


def main(argv):
    if len(argv) >= 3 and argv[1] == "add-key":
        add_key(argv[2])
    elif len(argv) >= 3 and argv[1] == "size":
        print(size(argv[2]))
    elif len(argv) >= 4 and argv[1] == "ledger":
        ledger(argv[2], int(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
