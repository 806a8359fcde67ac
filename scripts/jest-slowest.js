/**
 * A jest reporter: once the run ends, the ten slowest test files and their times (s, from jest's
 * per-file perfStats), so every run (`npm test`, CI) says where its time went. Written to stderr,
 * as jest's own reporter writes, so `jest --json` keeps stdout to itself.
 */
const path = require('node:path');

class SlowestFiles {
  onRunComplete(_contexts, results) {
    const files = results.testResults
      .map((r) => ({
        file: path.relative(process.cwd(), r.testFilePath),
        s: (r.perfStats.end - r.perfStats.start) / 1000,
      }))
      .sort((a, b) => b.s - a.s);
    if (files.length < 2) return;
    const total = files.reduce((sum, f) => sum + f.s, 0);
    const lines = files.slice(0, 10).map((f) => `  ${f.s.toFixed(1).padStart(6)} s  ${f.file}`);
    process.stderr.write(
      `\nslowest test files (of ${files.length}, ${total.toFixed(0)} s in all):\n${lines.join('\n')}\n`,
    );
  }
}

module.exports = SlowestFiles;
