'use strict';

/**
 * Splits text into words: runs of letters and digits (any script), with inner apostrophes
 * kept ("don't" is one word). Punctuation and whitespace separate words.
 * @param {string} text
 * @returns {string[]}
 */
function words(text) {
  if (typeof text !== 'string') throw new TypeError('words: text must be a string');
  return text.match(/[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu) ?? [];
}

module.exports = { words };
