#!/usr/bin/env bash
# The newcomer's path, as CI runs it: from a clean clone of this repository, `make run` in the
# background (on a free port: PORT=0, read back from the banner), wait until it answers, run
# `pipelinejobs demo` against it from the clone's folder (as a second terminal would, with the
# token minted from the clone's ./data), then stop it with Ctrl+C's signal and check it stopped
# cleanly. Exits non-zero, printing the system's output, when any of it fails.
#
# Usage: scripts/newcomer-path.sh [VENV]   (default: this repository's .venv)
# The clone reuses that installed virtual environment (`make run VENV=...` without reinstalling
# it), so it is quick; everything else is the clone's: its Makefile, its working directory and
# the default relative data directory `data` in it. The clone is of the committed HEAD.
set -euo pipefail
set -m # background jobs get their own process group: the stop signal reaches make and up

repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(cd "${1:-$repo/.venv}" && pwd)"
startup_limit=${NEWCOMER_STARTUP_LIMIT:-120}
work="$(mktemp -d -t pipelinejobs-newcomer-XXXXXX)"
server=""

say() { echo "newcomer-path: $*" >&2; }

# Stop make and the `up` it started with Ctrl+C's signal to their process group, as a terminal
# does, and wait until every process of the group is gone. SIGINT, not SIGTERM: make forwards a
# SIGTERM to its child, which then gets two stop signals, and a second one abandons the work in
# flight (a Ctrl+C reaches each process once).
stop_server() {
  kill -INT -- "-$server" 2>/dev/null || true
  for _ in $(seq 300); do
    pgrep -g "$server" >/dev/null || break
    sleep 0.1
  done
  if pgrep -g "$server" >/dev/null; then
    kill -KILL -- "-$server" 2>/dev/null || true
    return 1
  fi
}

finish() {
  status=$?
  if [[ -n "$server" ]]; then
    stop_server || true
  fi
  if [[ $status -ne 0 && -f "$work/run.log" ]]; then
    say "FAILED; the output of make run was:"
    cat "$work/run.log" >&2
  fi
  rm -rf "$work"
  exit $status
}
trap finish EXIT

git clone --quiet "$repo" "$work/clone"
cd "$work/clone"
# Unset settings a developer's shell may carry: the newcomer has none of them.
while IFS='=' read -r name _; do unset "$name"; done < <(env | grep '^PIPELINEJOBS_' || true)

# -o: the installed virtual environment is taken as it is (no reinstall into it from the clone).
make run VENV="$venv" PORT=0 -o "$venv/.installed-dev" >"$work/run.log" 2>&1 &
server=$!

url=""
for _ in $(seq $((startup_limit * 5))); do
  url="$(sed -n 's/^pipelinejobs is up at //p' "$work/run.log" | head -n 1)"
  [[ -n "$url" ]] && curl -sf "$url/readyz" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { say "make run exited before it was up"; exit 1; }
  url=""
  sleep 0.2
done
[[ -n "$url" ]] || { say "make run was not up within ${startup_limit} s"; exit 1; }
say "make run is up at $url (data directory $(pwd)/data)"

if ! "$venv/bin/pipelinejobs" demo --url "$url" --json >"$work/demo.json" 2>"$work/demo.err"; then
  say "pipelinejobs demo failed:"
  cat "$work/demo.err" "$work/demo.json" >&2
  exit 1
fi
"$venv/bin/python" - "$work/demo.json" <<'PY'
import json, sys

job = json.load(open(sys.argv[1]))
names = [event["name"] for event in job["history"]]
if job["state"] != "FINISHED" or "indexed" not in names:
    sys.exit(f"newcomer-path: the demo job is {job['state']} after {names}")
print(f"newcomer-path: demo job {job['uuid']} is FINISHED and indexed", file=sys.stderr)
PY

stopped=0
stop_server || stopped=$?
server=""
if [[ $stopped -ne 0 ]] || ! grep -q "Stopping: letting running work finish" "$work/run.log"; then
  say "make run did not stop gracefully"
  exit 1
fi
say "make run stopped; the newcomer's path works"
