#!/usr/bin/env bash
# A scripted coding agent (runtime: command) for the task `shout`: writes what its prompt asks.
set -euo pipefail
cat >src/shout.js <<'JS'
'use strict';
const { words } = require('./words');

/** The words of `text`, upper-cased, joined with spaces, and "!". */
function shout(text) {
  return `${words(text).map((w) => w.toUpperCase()).join(' ')}!`;
}

module.exports = { shout };
JS
cat >test/shout.test.js <<'JS'
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { shout } = require('../src/shout');

test('shouts the words', () => {
  assert.equal(shout('hello,  world'), 'HELLO WORLD!');
});
JS
echo "added shout(text) and its test"
