#!/usr/bin/env bash
# Schemathesis against `echoflow up`, every check on, inside a network
# namespace that has only loopback: workflows with HTTP steps to any URL the
# generator invents cannot send anything off the machine.
#
#   tests/schemathesis/run.sh            (as root; `make schemathesis`)
#
# Fails on any server error, response-schema violation or other check
# failure; then checks that the process is alive, /readyz answers 200 and
# its RSS is below SCHEMATHESIS_MAX_RSS_MB (200). Budget: SCHEMATHESIS_MAX_TIME
# seconds of generation (default 240) and SCHEMATHESIS_MAX_EXAMPLES test
# cases per operation and phase (default 30), seed SCHEMATHESIS_SEED (1).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/tests/schemathesis
VENV=${SCHEMATHESIS_VENV:-$ROOT/target/venv}
BINARY=${ECHOFLOW_BINARY:-$ROOT/target/debug/echoflow}
OUT=$ROOT/target/schemathesis
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-240}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-30}
MAX_RSS_MB=${SCHEMATHESIS_MAX_RSS_MB:-200}
PORT=18080

log() { printf '\n==> %s\n' "$*"; }
die() { echo "schemathesis: $*" >&2; exit 1; }

if [ -z "${ECHOFLOW_IN_NETNS:-}" ]; then
  # Outside the namespace: the one step that needs the network (PyPI).
  [ "$(id -u)" = 0 ] || die "needs root, to make a network namespace"
  command -v unshare >/dev/null && command -v ip >/dev/null ||
    die "needs unshare (util-linux) and ip (iproute2)"
  [ -x "$BINARY" ] || die "$BINARY missing: cargo build --bin echoflow"
  if ! "$VENV/bin/pip" freeze 2>/dev/null | grep -qxF -f "$HERE/requirements.txt"; then
    log "installing schemathesis into $VENV"
    /usr/bin/python3 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  fi
  log "entering a network namespace with loopback only"
  exec unshare --net env ECHOFLOW_IN_NETNS=1 "$0" "$@"
fi

# Inside the namespace. Refuse to go on if anything but loopback exists.
ip link set lo up
others=$(ip -o link show | awk -F': ' '$2 != "lo" {print $2}')
[ -z "$others" ] || die "interfaces other than loopback in the namespace: $others"
[ -z "$(ip route show)" ] || die "the namespace has routes: $(ip route show)"

rm -f "$OUT"/*.xml "$OUT"/*.ndjson "$OUT"/echoflow.log
mkdir -p "$OUT"
DATA=$(mktemp -d /tmp/echoflow-schemathesis.XXXXXX)
BASE=http://127.0.0.1:$PORT
UP_PID=
PROVIDER_PID=
cleanup() {
  if [ -n "$UP_PID" ] && kill -0 "$UP_PID" 2>/dev/null; then
    kill "$UP_PID" 2>/dev/null || true
    wait "$UP_PID" 2>/dev/null || true
  fi
  [ -z "$PROVIDER_PID" ] || kill "$PROVIDER_PID" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

# Every OAuth provider configured, at a fake provider on loopback
# (fake_provider.py): connect answers with an authorize URL instead of "not
# configured", and a callback's made-up code is refused as a real provider
# would refuse it (400 invalid_grant).
for provider in SLACK HUBSPOT GOOGLE_SHEETS SALESFORCE; do
  for setting in CLIENT_ID:fuzz-client CLIENT_SECRET:fuzz-secret \
    AUTHORIZE_URL:http://127.0.0.1:9/authorize TOKEN_URL:http://127.0.0.1:9/${provider,,}/token \
    API_BASE_URL:http://127.0.0.1:9/api REVOKE_URL:http://127.0.0.1:9/revoke; do
    export "ECHOFLOW_INTEGRATIONS__PROVIDERS__${provider}__${setting%%:*}=${setting#*:}"
  done
done

log "starting the fake OAuth provider on 127.0.0.1:9"
"$VENV/bin/python" "$HERE/fake_provider.py" 9 &
PROVIDER_PID=$!

log "starting echoflow up on $BASE (log: $OUT/echoflow.log)"
# The per-user API limit is off: one user sends thousands of requests a minute
# here. The sign-in and registration limits stay on. Schemathesis reads a whole
# answer, so the analytics stream ends after 2 s here (an hour by default).
ECHOFLOW_RATE_LIMIT__API_PER_USER_PER_MINUTE=0 \
ECHOFLOW_LIVE__MAX_STREAM_SECS=2 \
ECHOFLOW_TELEMETRY__LOG_LEVEL=${ECHOFLOW_TELEMETRY__LOG_LEVEL:-warn} \
  "$BINARY" up --port "$PORT" --data-dir "$DATA" >"$OUT/echoflow.log" 2>&1 &
UP_PID=$!
for _ in $(seq 120); do
  curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && break
  kill -0 "$UP_PID" 2>/dev/null || { tail -n 40 "$OUT/echoflow.log"; die "echoflow up exited"; }
  sleep 0.5
done
curl -fsS -o /dev/null "$BASE/readyz" || die "echoflow up not ready"

json() { "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
post() { curl -fsS -X POST "$BASE$1" -H 'content-type: application/json' "${@:3}" -d "$2"; }

log "registering a user, a token and a chatbot key"
EMAIL=fuzz@example.com
PASSWORD='schemathesis Tortoise 7 lantern'
post /api/v1/auth/register "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Fuzz\"}" >/dev/null
ECHOFLOW_TOKEN=$(post /api/v1/auth/token "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | json access_token)
BOT=$(post /api/v1/chatbots '{"name":"Fuzz bot","settings":{}}' -H "authorization: Bearer $ECHOFLOW_TOKEN")
ECHOFLOW_CHATBOT_KEY=$(json api_key <<<"$BOT")
export ECHOFLOW_TOKEN ECHOFLOW_CHATBOT_KEY

log "schemathesis: every check, at most ${MAX_TIME}s and $MAX_EXAMPLES cases per operation"
set +e
(cd "$OUT" && "$VENV/bin/st" --config-file "$HERE/schemathesis.toml" run "$BASE/api/openapi.json" \
  --checks all \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --report junit,ndjson --report-dir "$OUT" \
  --request-timeout 20 \
  --workers 2 "$@")
st_status=$?
set -e

log "echoflow up after the run"
kill -0 "$UP_PID" 2>/dev/null || { tail -n 40 "$OUT/echoflow.log"; die "echoflow up died during the run"; }
ready=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$UP_PID/status")
rss_mb=$((rss_kb / 1024))
echo "alive: yes; /readyz: $ready; RSS: ${rss_mb} MB (limit ${MAX_RSS_MB} MB)"
if [ "$rss_mb" -ge "$MAX_RSS_MB" ] || [ -n "${SCHEMATHESIS_MEMORY_REPORT:-}" ]; then
  # Where the memory is: the mappings' totals and, through gdb when it is
  # there, glibc's per-arena figures (in use against held from the system).
  grep -E '^(Rss|Anonymous|Private_Dirty)' "/proc/$UP_PID/smaps_rollup" || true
  echo "threads: $(ls "/proc/$UP_PID/task" | wc -l)"
  if command -v gdb >/dev/null; then
    gdb -p "$UP_PID" -batch -ex 'call (void) malloc_stats()' >/dev/null 2>&1 || true
    sleep 0.5
    grep -A3 -E '^(Arena|Total)' "$OUT/echoflow.log" | grep -vE '^(--)$' | tail -n 60 || true
  fi
fi
[ "$ready" = 200 ] || die "/readyz answered $ready"
[ "$rss_mb" -lt "$MAX_RSS_MB" ] || die "RSS ${rss_mb} MB is not below ${MAX_RSS_MB} MB"
[ "$st_status" = 0 ] || die "schemathesis found failures (exit $st_status); reports in $OUT"
echo "schemathesis: no failures"
