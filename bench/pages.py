#!/usr/bin/env python3
"""Times the report pages of a running tollgate on a seeded database (bench/seed.py):
/usage for the last 30 days, /logs first page and a deep cursor page, and the
daily_with_keys export of that month. A page that is not built yet (404, or the
"not available yet" placeholder) is reported as "n/a (not built)".

Prints KEY=VALUE lines (milliseconds: median of --runs, after one untimed warm-up).
Standard library only.
"""

import argparse
import datetime
import hashlib
import hmac
import re
import sqlite3
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request

PLACEHOLDER_MARKERS = ("此功能尚未开放", "This feature is not available yet")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    def __init__(self, base):
        self.base = base
        self.cookies = {}
        self.opener = urllib.request.build_opener(NoRedirect)

    def request(self, path, data=None, headers=None):
        req = urllib.request.Request(self.base + path, data=data, headers=dict(headers or {}))
        if self.cookies:
            req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        try:
            resp = self.opener.open(req, timeout=60)
        except urllib.error.HTTPError as e:
            resp = e
        body = resp.read()
        for value in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return resp.status, body

    def login(self, password):
        _, page = self.request("/login")
        m = re.search(rb'name="csrf_token" value="([^"]*)"', page)
        form = urllib.parse.urlencode(
            {"username": "admin", "password": password, "csrf_token": m.group(1).decode() if m else ""}
        ).encode()
        status, _ = self.request(
            "/login", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        return status in (302, 303)


def timed(client, path, headers, runs):
    status, body = client.request(path, headers=headers)
    if status == 404 or any(m.encode() in body for m in PLACEHOLDER_MARKERS):
        return "n/a (not built)"
    if status != 200:
        return f"error (HTTP {status})"
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        client.request(path, headers=headers)
        samples.append((time.perf_counter() - t) * 1000)
    return f"{statistics.median(samples):.1f}"


def deep_cursor(db):
    """A signed cursor for the row in the middle of the log (the format of
    domain::logs::encode_cursor), or None when this tree has no cursor secret."""
    con = sqlite3.connect(db)
    try:
        secret = con.execute("SELECT value FROM app_secrets WHERE name = 'log_cursor'").fetchone()
        if not secret:
            return None
        n = con.execute("SELECT COUNT(*) FROM request_logs").fetchone()[0]
        start_ms, rid = con.execute(
            "SELECT start_ms, id FROM request_logs ORDER BY start_ms DESC, id DESC LIMIT 1 OFFSET ?",
            (n // 2,),
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    msg = f"{start_ms}.{rid}".encode()
    tag = hmac.new(secret[0].encode(), msg, hashlib.sha256).digest()[:16].hex()
    return f"{start_ms}.{rid}.{tag}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--master-key", required=True)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    today = datetime.datetime.now(datetime.timezone.utc).date()
    start = (today - datetime.timedelta(days=29)).isoformat()
    end = today.isoformat()
    client = Client(args.url)
    if not client.login(args.password):
        raise SystemExit("could not sign in as admin")
    results = {
        "PAGE_USAGE_MONTH": timed(client, f"/usage?view=custom&start_date={start}&end_date={end}", {}, args.runs),
        "PAGE_LOGS_FIRST": timed(client, "/logs", {}, args.runs),
    }
    cursor = deep_cursor(args.db)
    results["PAGE_LOGS_DEEP"] = (
        timed(client, "/logs?cursor=" + urllib.parse.quote(cursor), {}, args.runs)
        if cursor
        else "n/a (not built)"
    )
    api = Client(args.url)
    results["PAGE_EXPORT_MONTH"] = timed(
        api,
        f"/usage/export?start_date={start}&end_date={end}&entity=key&scope=daily_with_keys&format=csv",
        {"Authorization": f"Bearer {args.master_key}"},
        args.runs,
    )
    for k, v in results.items():
        print(f"{k}='{v}'")


if __name__ == "__main__":
    main()
