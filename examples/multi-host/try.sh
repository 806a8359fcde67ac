#!/usr/bin/env bash
# One mission across three worker "hosts" on this machine (see mission.yaml and
# docs/multi-host.md). Uses the Temporal service TEMPORAL_ADDRESS names when it is set (e.g. after
# `eval "$(scripts/temporal-cluster up)"`), else starts the embedded dev server.
#   examples/multi-host/try.sh          # run, kill host h2 while it runs agents, finish on h1 and h3
#   KILL=none examples/multi-host/try.sh  # just run
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
flotilla=("$root/flotilla")
work="${FLOTILLA_DEMO_DIR:-$(mktemp -d /tmp/flotilla-multi-host-XXXXXX)}"
export FLOTILLA_TASK_QUEUE="${FLOTILLA_TASK_QUEUE:-flotilla-multi-host}"
echo "working in $work"

# The shared origin: a bare repository with one commit on main.
rm -rf "$here/origin.git"
git init --quiet -b main "$work/seed"
git -C "$work/seed" -c user.name=demo -c user.email=demo@example.com commit --quiet --allow-empty -m "start"
git clone --quiet --bare "$work/seed" "$here/origin.git"

# A Temporal service: the one in TEMPORAL_ADDRESS, or the embedded dev server.
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
if [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  FLOTILLA_HOME="$work/client" "${flotilla[@]}" server >"$work/server.log" 2>&1 &
  pids+=("$!")
  sleep 5
fi

# Three workers, three "hosts": each its own FLOTILLA_HOME (clone, worktrees) and host id.
for h in h1 h2 h3; do
  FLOTILLA_HOME="$work/$h" FLOTILLA_HOST_ID="$h" "${flotilla[@]}" worker --agents 4 >"$work/$h.log" 2>&1 &
  pids+=("$!")
  eval "worker_$h=$!"
done
sleep 5

export FLOTILLA_HOME="$work/client"
id="multi-host-$(date +%H%M%S)"
"${flotilla[@]}" start "$here/mission.yaml" --id "$id"
if [ "${KILL:-h2}" != none ]; then
  sleep 10
  victim="worker_${KILL:-h2}"
  echo "SIGKILL host ${KILL:-h2} (pid ${!victim}) while its agents run"
  kill -9 "${!victim}"
fi
"${flotilla[@]}" watch "$id" || true
"${flotilla[@]}" status "$id" --json |
  node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8")); for (const t of s.tasks) console.log(`${t.id.padEnd(8)} ${t.status.padEnd(7)} on ${t.host}${t.previousHosts ? ` (moved from ${t.previousHosts.join(", ")})` : ""}`)'
echo "merges on the origin's integration branch:"
git -C "$here/origin.git" log --merges --oneline "flotilla/$id/integration"
