-- wrk script for bench/run.sh: POSTs BENCH_BODY to the URL's path with an optional
-- BENCH_AUTH header, counts requests sent per thread (so the ledger can be checked
-- against what was sent, including requests cut off when the run ends), and prints
-- one machine-readable RESULT line.

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([%w-]+)=([^;]+)") do
  wrk.headers[name] = value
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  prepared = wrk.format()
end

function request()
  sent = sent + 1
  return prepared
end

function done(summary, latency, requests)
  -- wrk calls request() once on the first thread to verify the script; that request
  -- is never sent.
  local total = -1
  for _, t in ipairs(threads) do
    total = total + t:get("sent")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT completed=%d sent=%d status_errors=%d socket_errors=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, total, e.status, e.connect + e.read + e.write + e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
