'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { words } = require('../src/words');

test('splits on spaces and punctuation', () => {
  assert.deepEqual(words('Hello, world! How are you?'), ['Hello', 'world', 'How', 'are', 'you']);
});

test('keeps inner apostrophes and digits', () => {
  assert.deepEqual(words("don't stop at 42"), ["don't", 'stop', 'at', '42']);
});

test('handles non-ASCII letters', () => {
  assert.deepEqual(words('Crème brûlée — déjà vu'), ['Crème', 'brûlée', 'déjà', 'vu']);
});

test('empty and blank text give no words', () => {
  assert.deepEqual(words(''), []);
  assert.deepEqual(words('  ...  '), []);
});

test('rejects non-strings', () => {
  assert.throws(() => words(null), TypeError);
});
