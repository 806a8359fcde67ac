#!/usr/bin/env bash
# A scripted coding agent (runtime: command) for the task `whisper`: writes what its prompt asks.
set -euo pipefail
cat >src/whisper.js <<'JS'
'use strict';
const { words } = require('./words');

/** The words of `text`, lower-cased, joined with spaces, and "...". */
function whisper(text) {
  return `${words(text).map((w) => w.toLowerCase()).join(' ')}...`;
}

module.exports = { whisper };
JS
cat >test/whisper.test.js <<'JS'
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { whisper } = require('../src/whisper');

test('whispers the words', () => {
  assert.equal(whisper('Hello, WORLD'), 'hello world...');
});
JS
echo "added whisper(text) and its test"
