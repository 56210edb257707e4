#!/usr/bin/env bash
# Tollgate benchmark: one command, one table.
#
# Starts a fixed-response upstream (nginx `return 200`), a plain nginx reverse proxy in
# front of it (a second nginx instance), and tollgate (release build) with a virtual key,
# then measures with wrk: direct / nginx proxy / tollgate x concurrency x OpenAI and
# Anthropic upstream format x streaming and not, plus the OpenAI non-streamed cell over
# HTTPS (an upstream certificate from a private CA), with the CPU each target spent per
# request. Afterwards it stops tollgate with SIGTERM, checks that the ledger
# holds one row per request sent, reports peak RSS, SQLite growth and a soak run, and
# times the usage/log/export pages on a seeded database of 1,000,000 log rows.
#
# Knobs (environment): BENCH_DURATION (seconds per cell, default 4), BENCH_WARMUP
# (default 1), BENCH_CONCURRENCY (default "1 16 64"), BENCH_REPEAT (runs of the proxy and
# tollgate at c=64, alternating; default 5), BENCH_SOAK_SECS (default 30; 300
# for the full 5-minute check), BENCH_SEED_ROWS (default 1000000), BENCH_SEED_KEYS
# (default 1000), BENCH_SKIP_PAGES=1, BENCH_KEEP=1 (keep the work folder),
# CARGO_TARGET_DIR (where the release build goes).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
DURATION=${BENCH_DURATION:-4}
WARMUP=${BENCH_WARMUP:-1}
CONCURRENCY=${BENCH_CONCURRENCY:-"1 16 64"}
REPEAT=${BENCH_REPEAT:-5}
SOAK_SECS=${BENCH_SOAK_SECS:-30}
SEED_ROWS=${BENCH_SEED_ROWS:-1000000}
SEED_KEYS=${BENCH_SEED_KEYS:-1000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN="$TARGET_DIR/release/tollgate"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")
RESULTS="$WORK/results.tsv"
FACTS="$WORK/facts.env"
MASTER_KEY="bench-master-key"
ADMIN_PASSWORD="bench-admin-password"
UPSTREAM_PID=""
PROXY_PID=""
TOLLGATE_PID=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
    local pid
    for pid in "$TOLLGATE_PID" "$PROXY_PID" "$UPSTREAM_PID"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        log "work folder kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_tools() {
    local missing=()
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v python3 >/dev/null || missing+=(python3)
    command -v curl >/dev/null || missing+=(curl)
    if ((${#missing[@]})); then
        log "installing ${missing[*]} (Debian packages)"
        local sudo=""
        [[ $(id -u) -eq 0 ]] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
    local port=$1 i
    for i in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    log "nothing listens on port $port"
    return 1
}

# --- nginx: fixed-response upstream and a plain reverse proxy -------------------------

# nginx_conf DIR SERVER_BLOCKS: one nginx instance's config. The upstream and the proxy
# are separate instances, so the CPU each spends can be read from its own workers.
nginx_conf() {
    local dir=$1 servers=$2 user_line=""
    mkdir -p "$dir/logs" "$dir/tmp"
    [[ $(id -u) -eq 0 ]] && user_line="user root;"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
$servers
}
EOF
}

# make_tls: a private CA and a certificate it signed for 127.0.0.1 / localhost, as an
# internal HTTPS provider has; tollgate trusts it through `ca_file`, the proxy nginx
# through proxy_ssl_trusted_certificate.
make_tls() {
    TLS_DIR="$WORK/tls"
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Bench CA" \
            -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile san.ext -out server.pem 2>/dev/null
    )
}

# start_nginx: the fixed-response upstream (plain and HTTPS) and, in front of it, the
# plain proxy.
start_nginx() {
    UP_PORT=$(free_port)
    UP_TLS_PORT=$(free_port)
    PROXY_PORT=$(free_port)
    PROXY_TLS_PORT=$(free_port)
    make_tls
    local f="$HERE/fixtures"
    nginx_conf "$WORK/upstream" "    server {
        listen 127.0.0.1:$UP_PORT;
        location = /openai/v1/chat/completions { default_type application/json; return 200 '$(cat "$f/openai.json")'; }
        location = /openai-stream/v1/chat/completions { default_type text/event-stream; return 200 '$(cat "$f/openai.sse")'; }
        location = /anthropic/v1/messages { default_type application/json; return 200 '$(cat "$f/anthropic.json")'; }
        location = /anthropic-stream/v1/messages { default_type text/event-stream; return 200 '$(cat "$f/anthropic.sse")'; }
    }
    server {
        listen 127.0.0.1:$UP_TLS_PORT ssl http2;
        ssl_certificate $TLS_DIR/server.pem;
        ssl_certificate_key $TLS_DIR/server.key;
        location = /openai/v1/chat/completions { default_type application/json; return 200 '$(cat "$f/openai.json")'; }
    }"
    nginx_conf "$WORK/proxy" "    upstream fixed { server 127.0.0.1:$UP_PORT; keepalive 128; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$PROXY_PORT;
        location / {
            proxy_pass http://fixed;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_buffering off;
        }
    }
    upstream fixed_tls { server 127.0.0.1:$UP_TLS_PORT; keepalive 128; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$PROXY_TLS_PORT;
        location / {
            proxy_pass https://fixed_tls;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_buffering off;
            proxy_ssl_trusted_certificate $TLS_DIR/ca.pem;
            proxy_ssl_verify on;
            proxy_ssl_name localhost;
            proxy_ssl_session_reuse on;
        }
    }"
    "$NGINX" -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -g 'daemon off;' 2>>"$WORK/upstream/logs/stderr.log" &
    UPSTREAM_PID=$!
    "$NGINX" -p "$WORK/proxy" -c "$WORK/proxy/nginx.conf" -g 'daemon off;' 2>>"$WORK/proxy/logs/stderr.log" &
    PROXY_PID=$!
    wait_port "$UP_PORT"
    wait_port "$PROXY_PORT"
    wait_port "$UP_TLS_PORT"
    wait_port "$PROXY_TLS_PORT"
}

# --- tollgate ---------------------------------------------------------------------------

write_config() {
    local dir=$1 port=$2 up="http://127.0.0.1:$UP_PORT"
    cat >"$dir/config.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
database = "tollgate.db"
master_key = "$MASTER_KEY"
store_bodies = false

[[models]]
name = "bench-openai"
provider = "openai"
model = "gpt-4o-mini"
api_base = "$up/openai/v1"
api_key = "bench-upstream-key"
input_cost_per_mtok = 0.8
output_cost_per_mtok = 4.0

[[models]]
name = "bench-openai-stream"
provider = "openai"
model = "gpt-4o-mini"
api_base = "$up/openai-stream/v1"
api_key = "bench-upstream-key"
input_cost_per_mtok = 0.8
output_cost_per_mtok = 4.0

[[models]]
name = "bench-anthropic"
provider = "anthropic"
model = "claude-3-5-haiku-20241022"
api_base = "$up/anthropic"
api_key = "bench-upstream-key"
input_cost_per_mtok = 0.8
output_cost_per_mtok = 4.0

[[models]]
name = "bench-openai-tls-nostream"
provider = "openai"
model = "gpt-4o-mini"
api_base = "https://127.0.0.1:$UP_TLS_PORT/openai/v1"
ca_file = "$TLS_DIR/ca.pem"
api_key = "bench-upstream-key"
input_cost_per_mtok = 0.8
output_cost_per_mtok = 4.0

[[models]]
name = "bench-anthropic-stream"
provider = "anthropic"
model = "claude-3-5-haiku-20241022"
api_base = "$up/anthropic-stream"
api_key = "bench-upstream-key"
input_cost_per_mtok = 0.8
output_cost_per_mtok = 4.0
EOF
}

# start_tollgate DIR PORT: runs the release binary in the background.
start_tollgate() {
    local dir=$1 port=$2
    TOLLGATE_ADMIN_PASSWORD=$ADMIN_PASSWORD TOLLGATE_LOG=warn \
        "$BIN" serve --config "$dir/config.toml" >>"$dir/tollgate.log" 2>&1 &
    TOLLGATE_PID=$!
    wait_port "$port"
    # The port opens before the server runs (and handles SIGTERM): wait for an answer.
    local i
    for i in $(seq 1 200); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/health/liveliness" && return 0
        sleep 0.05
    done
    log "tollgate on :$port never answered"
    return 1
}

# stop_tollgate: SIGTERM, wait for the drain; fails unless it exits 0.
stop_tollgate() {
    local status=0
    kill -TERM "$TOLLGATE_PID"
    wait "$TOLLGATE_PID" || status=$?
    TOLLGATE_PID=""
    if ((status != 0)); then
        log "tollgate exited with status $status"
        return 1
    fi
}

rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# --- load -------------------------------------------------------------------------------

# run_wrk URL CONCURRENCY SECONDS: prints wrk's RESULT line fields.
# Also reports the CPU wrk itself used (wrk_cpu_us), read with getrusage.
run_wrk() {
    local url=$1 c=$2 secs=$3 threads=2
    ((c < 2)) && threads=1
    python3 -c 'import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True).stdout
used = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(out)
print(f"WRKCPU {round((used.ru_utime + used.ru_stime) * 1e6)}")' \
        wrk -t"$threads" -c"$c" -d"${secs}s" --timeout 10s -s "$HERE/wrk.lua" "$url" |
        awk '/^RESULT/ { $1 = ""; result = substr($0, 2) } /^WRKCPU/ { cpu = $2 }
             END { print result " wrk_cpu_us=" cpu }'
}

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# cpu_ticks TARGET: CPU time (user + system, clock ticks) the target's processes have
# used so far: the upstream's or the proxy's nginx master and workers, or tollgate.
cpu_ticks() {
    local pids p total=0
    case $1 in
        direct) pids="$UPSTREAM_PID $(cat /proc/"$UPSTREAM_PID"/task/*/children 2>/dev/null)" ;;
        nginx) pids="$PROXY_PID $(cat /proc/"$PROXY_PID"/task/*/children 2>/dev/null)" ;;
        tollgate) pids=$TOLLGATE_PID ;;
    esac
    for p in $pids; do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

TOLLGATE_SENT=0
TOLLGATE_COMPLETED=0

# cell FORMAT STREAM TARGET C: warm up, measure, append one row to $RESULTS.
cell() {
    local format=$1 stream=$2 target=$3 c=$4 url body model path headers="" auth=""
    model="bench-$format"
    [[ $stream == yes ]] && model="$model-stream"
    [[ $format == openai-tls ]] && model="bench-openai-tls-nostream"
    case $format in
        openai | openai-tls) path="/openai/v1/chat/completions" ;;
        anthropic) path="/anthropic/v1/messages" ;;
    esac
    [[ $stream == yes ]] && path=${path/\/v1/-stream\/v1}
    local s=false
    [[ $stream == yes ]] && s=true
    case $target in
        direct | nginx)
            local port=$UP_PORT scheme=http
            [[ $target == nginx ]] && port=$PROXY_PORT
            if [[ $format == openai-tls ]]; then
                port=$PROXY_TLS_PORT
                [[ $target == direct ]] && port=$UP_TLS_PORT scheme=https
            fi
            url="$scheme://127.0.0.1:$port$path"
            if [[ $format == anthropic ]]; then
                body="{\"model\":\"claude-3-5-haiku-20241022\",\"max_tokens\":64,\"stream\":$s,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}"
                headers="x-api-key=bench-upstream-key;anthropic-version=2023-06-01"
            else
                body="{\"model\":\"gpt-4o-mini\",\"max_tokens\":64,\"stream\":$s,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}"
                auth="Bearer bench-upstream-key"
            fi
            ;;
        tollgate)
            url="http://127.0.0.1:$TG_PORT/v1/chat/completions"
            body="{\"model\":\"$model\",\"max_tokens\":64,\"stream\":$s,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}"
            auth="Bearer $BENCH_KEY"
            ;;
    esac
    export BENCH_BODY=$body BENCH_AUTH=$auth BENCH_HEADERS=$headers
    local warm out ticks up_ticks
    warm=$(run_wrk "$url" "$c" "$WARMUP")
    ticks=$(cpu_ticks "$target")
    up_ticks=$(cpu_ticks direct)
    out=$(run_wrk "$url" "$c" "$DURATION")
    out="$out cpu_ticks=$(($(cpu_ticks "$target") - ticks)) clk_tck=$CLK_TCK"
    out="$out upstream_ticks=$(($(cpu_ticks direct) - up_ticks))"
    if [[ $target == tollgate ]]; then
        TOLLGATE_SENT=$((TOLLGATE_SENT + $(field "$warm" sent) + $(field "$out" sent)))
        TOLLGATE_COMPLETED=$((TOLLGATE_COMPLETED + $(field "$warm" completed) + $(field "$out" completed)))
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$format" "$stream" "$target" "$c" "$out" >>"$RESULTS"
    log "$format stream=$stream $target c=$c: $out"
}

# --- main -------------------------------------------------------------------------------

ensure_tools
CLK_TCK=$(getconf CLK_TCK)
log "building tollgate (release) into $TARGET_DIR"
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked --quiet)
start_nginx
log "nginx upstream on :$UP_PORT, nginx proxy on :$PROXY_PORT"

TG_DIR="$WORK/tollgate"
mkdir -p "$TG_DIR"
TG_PORT=$(free_port)
write_config "$TG_DIR" "$TG_PORT"
start_tollgate "$TG_DIR" "$TG_PORT" # first start creates the schema and the admin
stop_tollgate
BENCH_KEY=$(python3 "$HERE/db.py" add-key "$TG_DIR/tollgate.db")
DB_BYTES_BEFORE=$(python3 "$HERE/db.py" size "$TG_DIR/tollgate.db")
start_tollgate "$TG_DIR" "$TG_PORT"
log "tollgate on :$TG_PORT (pid $TOLLGATE_PID)"

: >"$RESULTS"
for format in openai anthropic; do
    for stream in no yes; do
        for c in $CONCURRENCY; do
            cell "$format" "$stream" direct "$c"
            # At c=64 the proxy and tollgate alternate $REPEAT times; the report takes
            # each one's median run, as single runs swing by 5-10% on shared cores.
            runs=1
            ((c == 64)) && runs=$REPEAT
            for ((run = 0; run < runs; run++)); do
                cell "$format" "$stream" nginx "$c"
                cell "$format" "$stream" tollgate "$c"
            done
        done
    done
done
# Real providers are HTTPS: the same non-streamed OpenAI cell over TLS (HTTP/2 where
# the client offers it; nginx proxies upstream over HTTP/1.1 with kept-alive TLS).
for c in $CONCURRENCY; do
    cell openai-tls no direct "$c"
    runs=1
    ((c == 64)) && runs=$REPEAT
    for ((run = 0; run < runs; run++)); do
        cell openai-tls no nginx "$c"
        cell openai-tls no tollgate "$c"
    done
done
HWM_MATRIX=$(rss_kib "$TOLLGATE_PID" VmHWM)

log "soak: ${SOAK_SECS}s at c=64 (OpenAI, not streamed)"
SOAK_RSS_START=$(rss_kib "$TOLLGATE_PID" VmRSS)
export BENCH_BODY='{"model":"bench-openai","max_tokens":64,"messages":[{"role":"user","content":"Say hello."}]}'
export BENCH_AUTH="Bearer $BENCH_KEY" BENCH_HEADERS=""
soak=$(run_wrk "http://127.0.0.1:$TG_PORT/v1/chat/completions" 64 "$SOAK_SECS")
TOLLGATE_SENT=$((TOLLGATE_SENT + $(field "$soak" sent)))
TOLLGATE_COMPLETED=$((TOLLGATE_COMPLETED + $(field "$soak" completed)))
SOAK_RSS_END=$(rss_kib "$TOLLGATE_PID" VmRSS)
HWM_ALL=$(rss_kib "$TOLLGATE_PID" VmHWM)
log "soak: $soak"

log "stopping tollgate with SIGTERM (the ledger drains)"
stop_tollgate
python3 "$HERE/db.py" ledger "$TG_DIR/tollgate.db" "$DB_BYTES_BEFORE" >"$WORK/ledger.env"

{
    echo "TOLLGATE_SENT=$TOLLGATE_SENT"
    echo "TOLLGATE_COMPLETED=$TOLLGATE_COMPLETED"
    echo "HWM_MATRIX=$HWM_MATRIX"
    echo "HWM_ALL=$HWM_ALL"
    echo "SOAK_SECS=$SOAK_SECS"
    echo "SOAK_RSS_START=$SOAK_RSS_START"
    echo "SOAK_RSS_END=$SOAK_RSS_END"
    echo "SOAK_RESULT='$soak'"
    cat "$WORK/ledger.env"
} >"$FACTS"

if [[ "${BENCH_SKIP_PAGES:-0}" != 1 ]]; then
    PG_DIR="$WORK/pages"
    mkdir -p "$PG_DIR"
    PG_PORT=$(free_port)
    write_config "$PG_DIR" "$PG_PORT"
    start_tollgate "$PG_DIR" "$PG_PORT"
    stop_tollgate
    log "seeding $SEED_ROWS log rows and $SEED_KEYS keys"
    seed_started=$(date +%s)
    python3 "$HERE/seed.py" --db "$PG_DIR/tollgate.db" --rows "$SEED_ROWS" --keys "$SEED_KEYS" >&2
    echo "SEED_SECS=$(($(date +%s) - seed_started))" >>"$FACTS"
    echo "SEED_ROWS=$SEED_ROWS" >>"$FACTS"
    echo "SEED_KEYS=$SEED_KEYS" >>"$FACTS"
    start_tollgate "$PG_DIR" "$PG_PORT"
    python3 "$HERE/pages.py" --url "http://127.0.0.1:$PG_PORT" --db "$PG_DIR/tollgate.db" \
        --password "$ADMIN_PASSWORD" --master-key "$MASTER_KEY" >>"$FACTS"
    stop_tollgate
fi

python3 "$HERE/report.py" --results "$RESULTS" --facts "$FACTS" \
    --duration "$DURATION" --concurrency "$CONCURRENCY"
