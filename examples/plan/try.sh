#!/usr/bin/env bash
# Plans a small change on the example repository with the scripted planner, then runs the plan:
#   examples/plan/try.sh            # plan (two rounds: the first plan is invalid), then run it
#   RUN=no examples/plan/try.sh     # plan only
# Uses the Temporal service in TEMPORAL_ADDRESS when one answers, else the embedded dev server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${FLOTILLA_DEMO_DIR:-$(mktemp -d /tmp/flotilla-plan-XXXXXX)}"
echo "working in $work"

# The repository to plan on: a git checkout of app/, one commit on main.
cp -R "$here/app" "$work/textkit"
git -C "$work/textkit" init --quiet -b main
git -C "$work/textkit" add --all
git -C "$work/textkit" -c user.name=demo -c user.email=demo@example.com commit --quiet -m "textkit"

run=()
[ "${RUN:-yes}" = no ] || run=(--run)
"$root/flotilla" plan "Add shout(text) and whisper(text) to textkit, each with tests" \
  --repo "$work/textkit" --from "$here/template.yaml" --out "$work/mission.yaml" "${run[@]}"
