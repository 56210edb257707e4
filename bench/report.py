#!/usr/bin/env python3
"""Formats bench/run.sh's measurements as one Markdown report: the latency/throughput
table (direct / nginx proxy / tollgate), then tollgate's facts and the targets of
issue 6 with ok / MISSED. Standard library only."""

import argparse
import shlex

TARGETS = ("direct", "nginx", "tollgate")
LABEL = {"direct": "direct", "nginx": "nginx proxy", "tollgate": "tollgate"}


def read_results(path):
    """One entry per cell: its median run by req/s (cells measured more than once keep
    all runs under "runs")."""
    runs = {}
    with open(path) as f:
        for line in f:
            fmt, stream, target, c, fields = line.rstrip("\n").split("\t", 4)
            kv = dict(p.split("=", 1) for p in fields.split())
            runs.setdefault((fmt, stream, int(c), target), []).append({k: int(v) for k, v in kv.items()})
    cells = {}
    for key, measured in runs.items():
        ordered = sorted(measured, key=rate)
        median = dict(ordered[(len(ordered) - 1) // 2])
        median["runs"] = measured
        cells[key] = median
    return cells


def cpu_us(cell):
    """CPU (user + system) the target spent per request answered, in µs."""
    if not cell.get("completed") or "cpu_ticks" not in cell:
        return ""
    return f"{cell['cpu_ticks'] / cell['clk_tck'] * 1e6 / cell['completed']:.1f}"


def peers_us(cell):
    """CPU wrk and the upstream nginx spent per request answered, in µs (for direct,
    the upstream is the target itself and counts once)."""
    if not cell.get("completed") or "wrk_cpu_us" not in cell or "upstream_ticks" not in cell:
        return ""
    upstream = cell["upstream_ticks"] / cell["clk_tck"] * 1e6
    return f"{(cell['wrk_cpu_us'] + upstream) / cell['completed']:.1f}"


def read_facts(path):
    facts = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                facts[k] = " ".join(shlex.split(v)) if v else ""
    return facts


def ms(us):
    return f"{us / 1000:.3f}"


def rate(cell):
    return cell["completed"] / (cell["duration_us"] / 1e6)


def mib(kib):
    return f"{int(kib) / 1024:.1f} MiB"


def verdict(ok):
    return "ok" if ok else "**MISSED**"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--facts", required=True)
    ap.add_argument("--duration", required=True)
    ap.add_argument("--concurrency", required=True)
    args = ap.parse_args()
    cells = read_results(args.results)
    facts = read_facts(args.facts)
    checks = []
    print(f"## Proxy overhead ({args.duration} s per cell, wrk, keep-alive)\n")
    print("At c=64 the nginx proxy and tollgate were measured alternately several times; "
          "each row is its median run (by req/s), and the ratio compares the two medians. "
          "CPU is what the target's own processes spent (user + system) per request "
          "answered: the upstream nginx for direct, the proxy nginx, or tollgate; the next "
          "column is what wrk and the upstream nginx spent per request in the same run, "
          "since all of them share the two cores.\n")
    print("| upstream | stream | c | target | req/s | p50 ms | p99 ms | p99.9 ms "
          "| overhead p50 µs | overhead p99 µs | % of nginx proxy req/s | CPU µs/req "
          "| wrk + upstream CPU µs/req | runs | errors |")
    print("|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for fmt in ("openai", "anthropic", "openai-tls"):
        for stream in ("no", "yes"):
            for c in [int(x) for x in args.concurrency.split()]:
                direct = cells.get((fmt, stream, c, "direct"))
                nginx = cells.get((fmt, stream, c, "nginx"))
                for target in TARGETS:
                    cell = cells.get((fmt, stream, c, target))
                    if not cell:
                        continue
                    over50 = over99 = share = ""
                    if target == "tollgate" and direct:
                        d50 = cell["p50_us"] - direct["p50_us"]
                        d99 = cell["p99_us"] - direct["p99_us"]
                        over50, over99 = str(d50), str(d99)
                        if c == 1:
                            checks.append((f"c=1 overhead p50 {fmt} stream={stream}", f"{d50} µs", "≤ 150 µs", d50 <= 150))
                            checks.append((f"c=1 overhead p99 {fmt} stream={stream}", f"{d99} µs", "≤ 500 µs", d99 <= 500))
                    if target == "tollgate" and nginx:
                        pct = 100 * rate(cell) / rate(nginx)
                        share = f"{pct:.1f}%"
                        if c == 64:
                            checks.append((f"c=64 throughput {fmt} stream={stream}", share, "≥ 50% of nginx proxy", pct >= 50))
                    errors = sum(r["status_errors"] + r["socket_errors"] for r in cell["runs"])
                    print(f"| {fmt} | {stream} | {c} | {LABEL[target]} | {rate(cell):,.0f} | {ms(cell['p50_us'])} "
                          f"| {ms(cell['p99_us'])} | {ms(cell['p999_us'])} | {over50} | {over99} | {share} "
                          f"| {cpu_us(cell)} | {peers_us(cell)} | {len(cell['runs'])} | {errors} |")

    print("\n## Tollgate facts\n")
    print("| measure | value | target | |")
    print("|---|---|---|---|")
    hwm = int(facts["HWM_ALL"])
    print(f"| peak RSS (VmHWM), whole run | {mib(hwm)} | ≤ 64 MiB | {verdict(hwm <= 64 * 1024)} |")
    print(f"| peak RSS after the matrix | {mib(facts['HWM_MATRIX'])} | | |")
    start, end = int(facts["SOAK_RSS_START"]), int(facts["SOAK_RSS_END"])
    grew = end - start
    soak_ok = grew <= max(2048, start // 20)
    soak = dict(p.split("=", 1) for p in facts["SOAK_RESULT"].split())
    soak_rate = int(soak["completed"]) / (int(soak["duration_us"]) / 1e6)
    print(f"| soak {facts['SOAK_SECS']} s at c=64: RSS start → end | {mib(start)} → {mib(end)} "
          f"({soak_rate:,.0f} req/s) | no growth | {verdict(soak_ok)} |")
    sent, completed = int(facts["TOLLGATE_SENT"]), int(facts["TOLLGATE_COMPLETED"])
    rows, ok_rows = int(facts["LEDGER_ROWS"]), int(facts["LEDGER_OK_ROWS"])
    ledger_ok = rows == sent
    print(f"| ledger rows after SIGTERM vs requests sent | {rows:,} rows / {sent:,} sent "
          f"({completed:,} answered before wrk stopped, {ok_rows:,} rows with 200) | equal | {verdict(ledger_ok)} |")
    rollup_ok = (
        facts["ROLLUP_REQUESTS"] == facts["LEDGER_ROWS"]
        and facts["LOG_COST"] == facts["ROLLUP_COST"]
        and facts["ROLLUP_MISMATCHED_KEYS"] == "0"
    )
    print(f"| rollups = log rows (requests, spend per key) | {facts['ROLLUP_REQUESTS']} requests, "
          f"{facts['ROLLUP_COST']} vs {facts['LOG_COST']} nano-USD | equal | {verdict(rollup_ok)} |")
    row_bytes = facts["LOG_ROW_BYTES"]
    row_ok = row_bytes != "n/a" and int(row_bytes) <= 400
    print(f"| log row on disk (table + indexes, no bodies) | {row_bytes} B | ≤ 400 B | {verdict(row_ok)} |")
    print(f"| SQLite file growth per 1,000 requests (rows + rollups) | {int(facts['DB_GROWTH_PER_1000']) / 1024:.1f} KiB | | |")
    checks.append(("peak RSS", mib(hwm), "≤ 64 MiB", hwm <= 64 * 1024))
    checks.append(("ledger rows = requests", f"{rows}/{sent}", "equal", ledger_ok))

    if "PAGE_USAGE_MONTH" in facts:
        seeded = f"{int(facts['SEED_ROWS']):,} rows, {int(facts['SEED_KEYS']):,} keys, seeded in {facts['SEED_SECS']} s"
        for key, name, limit in (
            ("PAGE_USAGE_MONTH", "/usage, 30 days", 100),
            ("PAGE_LOGS_FIRST", "/logs, first page", 50),
            ("PAGE_LOGS_DEEP", "/logs, cursor page in the middle", 50),
            ("PAGE_EXPORT_MONTH", "/usage/export daily_with_keys, 30 days", 1000),
        ):
            value = facts[key]
            try:
                ok = verdict(float(value) <= limit)
                value = f"{value} ms"
            except ValueError:
                ok = ""
            print(f"| {name} ({seeded}) | {value} | ≤ {limit} ms | {ok} |")

    missed = [c for c in checks if not c[3]]
    print(f"\nTargets: {len(checks) - len(missed)} of {len(checks)} met.")
    for name, value, target, _ in missed:
        print(f"- MISSED {name}: {value} (target {target})")


if __name__ == "__main__":
    main()
