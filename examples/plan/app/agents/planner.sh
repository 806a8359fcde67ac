#!/usr/bin/env bash
# A scripted planner (runtime: command) standing in for Claude Code or Codex: it writes a mission
# file to $FLOTILLA_PLAN_FILE. Its first plan is wrong on purpose (a dependency cycle and a gate,
# `npm run lint`, that this repository does not have); given Flotilla's errors
# ($FLOTILLA_PLAN_ERRORS, also in the follow-up prompt $FLOTILLA_PROMPT) it writes a correct one.
set -euo pipefail
if [ -z "${FLOTILLA_PLAN_ERRORS:-}" ]; then
  echo "round ${FLOTILLA_PLAN_ROUND:-1}: a first plan"
  deps_shout='[whisper]'
  deps_whisper='[shout]'
  gate='npm run lint'
else
  echo "round ${FLOTILLA_PLAN_ROUND}: Flotilla found problems; fixing them:"
  printf '%s\n' "$FLOTILLA_PLAN_ERRORS" | sed 's/^/  /'
  deps_shout='[]'
  deps_whisper='[]'
  gate='node --test test/shout.test.js'
fi
cat >"$FLOTILLA_PLAN_FILE" <<PLAN
tasks:
  - id: shout
    title: Add shout(text)
    prompt: |
      Add src/shout.js exporting shout(text): the words of the text (words() from src/words.js)
      upper-cased and joined with single spaces, followed by "!". Add tests in test/shout.test.js.
    dependsOn: $deps_shout
    touches: [src/shout.js, test/shout.test.js]
    verify: ['$gate']
    agent: { command: [bash, agents/shout.sh] }
  - id: whisper
    title: Add whisper(text)
    prompt: |
      Add src/whisper.js exporting whisper(text): the words of the text (words() from
      src/words.js) lower-cased and joined with single spaces, followed by "...". Add tests in
      test/whisper.test.js.
    dependsOn: $deps_whisper
    touches: [src/whisper.js, test/whisper.test.js]
    verify: ['node --test test/whisper.test.js']
    agent: { command: [bash, agents/whisper.sh] }
PLAN
echo "Two independent tasks, shout and whisper, each with its own gate; the mission verify runs the whole test suite."
