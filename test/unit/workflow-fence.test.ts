/**
 * The fence around workflow code, checked on the import graph itself. Temporal bundles every module
 * src/workflows/index.ts reaches and runs it in its deterministic sandbox; ESLint fences two
 * folders, src/workflows and src/mission (eslint.config.mjs: relative imports and Temporal's
 * workflow-side packages only). This walks the graph (the files read, their relative imports
 * followed) and fails if a reached module lies outside those folders, imports another package, or
 * is not given the fence by ESLint; and it finds no import circle among the workflow modules.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '../..');
const ENTRY = path.join(ROOT, 'src/workflows/index.ts');
/** The folders ESLint fences as deterministic. */
const FENCED = ['src/workflows', 'src/mission'].map((d) => path.join(ROOT, d));
/** The only packages deterministic code may import. */
const PACKAGES = ['@temporalio/workflow', '@temporalio/common'];

/** One import of a module: what it names, and whether it is erased at compile time (`import type`). */
interface Import {
  spec: string;
  typeOnly: boolean;
}

/**
 * The imports of a TypeScript file: import and export declarations, `import()` and `require()`.
 * An `import type`, an `export type` and an import whose every name is `type` are type-only (the
 * compiler erases them, so they never reach the bundle).
 */
function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypes =
        !!clause &&
        !clause.name &&
        !!named &&
        ts.isNamedImports(named) &&
        named.elements.length > 0 &&
        named.elements.every((e) => e.isTypeOnly);
      out.push({ spec: node.moduleSpecifier.text, typeOnly: !!clause?.isTypeOnly || allTypes });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments.length === 1 &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      out.push({ spec: node.arguments[0].text, typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** The file a relative import names: `x.ts`, else `x/index.ts`. */
function resolve(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (existsSync(candidate)) return candidate;
  throw new Error(`${path.relative(ROOT, from)} imports ${spec}, which is no .ts file`);
}

/** What the walk from one entry found. */
interface Graph {
  /** Every module the walk reached. */
  reached: string[];
  /** Packages those modules import in their emitted code, with the importer. */
  packages: Array<{ from: string; spec: string }>;
  /** Each reached module's relative imports, type-only ones included. */
  edges: Map<string, string[]>;
}

/**
 * Walks the import graph from `entry`, following the relative imports that stay in the emitted
 * code (what a bundler follows), or with `types` every relative import into a file `types` accepts
 * (what a reader follows, for circles).
 */
function walk(entry: string, types?: (file: string) => boolean): Graph {
  const reached: string[] = [];
  const packages: Graph['packages'] = [];
  const edges = new Map<string, string[]>();
  const todo = [entry];
  const seen = new Set(todo);
  while (todo.length > 0) {
    const file = todo.pop()!;
    reached.push(file);
    const next: string[] = [];
    for (const { spec, typeOnly } of importsOf(file)) {
      if (!spec.startsWith('.')) {
        if (!typeOnly) packages.push({ from: file, spec });
        continue;
      }
      const target = resolve(file, spec);
      next.push(target);
      const follow = types ? types(target) : !typeOnly;
      if (!follow || seen.has(target)) continue;
      seen.add(target);
      todo.push(target);
    }
    edges.set(file, next);
  }
  return { reached: reached.sort(), packages, edges };
}

/** A circle of imports among `edges`' own files (as `a -> b -> a`), or null. */
function findCircle(edges: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): string[] | null => {
    if (state.get(file) === 'done') return null;
    if (state.get(file) === 'open') return [...stack.slice(stack.indexOf(file)), file];
    state.set(file, 'open');
    stack.push(file);
    for (const next of edges.get(file) ?? []) {
      if (!edges.has(next)) continue;
      const circle = visit(next);
      if (circle) return circle;
    }
    stack.pop();
    state.set(file, 'done');
    return null;
  };
  for (const file of edges.keys()) {
    const circle = visit(file);
    if (circle) return circle;
  }
  return null;
}

const inFence = (file: string): boolean => FENCED.some((dir) => file.startsWith(`${dir}${path.sep}`));
const rel = (file: string): string => path.relative(ROOT, file);

/** Imports deterministic code must not have (lines 1 and 2) and may have (line 3). */
const PROBE = [
  "import fs from 'node:fs';",
  "import picomatch from 'picomatch';",
  "import { condition } from '@temporalio/workflow';",
  'export const probe = [fs, picomatch, condition];',
].join('\n');

/**
 * For each file, the lines of {@link PROBE} that ESLint refuses with `no-restricted-imports` when
 * the probe stands in that file's place (eslint.config.mjs as it is; one Node process, since the
 * flat config is an ES module, which jest's module system does not load).
 */
function refusedProbeLines(files: string[]): Record<string, number[]> {
  const script = `
    const { ESLint } = require('eslint');
    (async () => {
      // Only this rule, and without type information (which only other rules need): seconds, not a minute.
      const eslint = new ESLint({
        cwd: ${JSON.stringify(ROOT)},
        ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
        overrideConfig: { languageOptions: { parserOptions: { project: null } } },
      });
      const [files, text] = JSON.parse(process.argv[1]);
      const out = {};
      for (const filePath of files) {
        const [result] = await eslint.lintText(text, { filePath });
        out[filePath] = result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.line);
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const args = JSON.stringify([files, PROBE]);
  return JSON.parse(execFileSync(process.execPath, ['-e', script, args], { cwd: ROOT }).toString());
}

describe('the workflow bundle stays inside the deterministic folders', () => {
  const graph = walk(ENTRY);

  test('every module the workflows reach is under src/workflows or src/mission', () => {
    expect(graph.reached.length).toBeGreaterThan(20);
    expect(graph.reached.filter((f) => !inFence(f)).map(rel)).toEqual([]);
  });

  test('they import no package but the Temporal workflow SDK', () => {
    const others = graph.packages.filter((p) => !PACKAGES.includes(p.spec));
    expect(others.map((p) => `${rel(p.from)}: ${p.spec}`)).toEqual([]);
  });

  test('ESLint gives every reached module the deterministic fence', () => {
    const refused = refusedProbeLines(graph.reached);
    const unfenced = graph.reached.filter((f) => JSON.stringify(refused[f]) !== JSON.stringify([1, 2]));
    expect(unfenced.map((f) => `${rel(f)}: refuses probe lines ${JSON.stringify(refused[f])}`)).toEqual([]);
  }, 120_000);

  test('no import circle among the workflow modules, type-only imports included', () => {
    const all = walk(ENTRY, inFence);
    expect(all.reached.length).toBeGreaterThanOrEqual(graph.reached.length);
    expect(findCircle(all.edges)?.map(rel) ?? null).toBeNull();
  });
});

describe('the walk itself', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fence-'));
    mkdirSync(path.join(dir, 'in/sub'), { recursive: true });
    mkdirSync(path.join(dir, 'out'));
    const files: Record<string, string> = {
      'in/index.ts': `export { a } from './a';\nimport type { T } from '../out/types';\nexport type { U } from '../out/u';\n`,
      'in/a.ts': `import { b } from './sub';\nimport { type T } from '../out/types';\nimport fs from 'node:fs';\nexport const a = b;\n`,
      'in/sub/index.ts': `import { c } from '../../out/c';\nexport const b = require('./lazy');\n`,
      'in/sub/lazy.ts': `import { a } from '../a';\nexport const lazy = a;\n`,
      'out/c.ts': `export const c = 1;\n`,
      'out/types.ts': `export type T = 1;\n`,
      'out/u.ts': `export type U = 1;\n`,
    };
    for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('follows value imports, re-exports, index files and require(), not type-only imports', () => {
    const g = walk(path.join(dir, 'in/index.ts'));
    expect(g.reached.map((f) => path.relative(dir, f))).toEqual([
      'in/a.ts',
      'in/index.ts',
      'in/sub/index.ts',
      'in/sub/lazy.ts',
      'out/c.ts',
    ]);
    expect(g.packages.map((p) => p.spec)).toEqual(['node:fs']);
  });

  test('finds a circle', () => {
    const g = walk(path.join(dir, 'in/index.ts'), (f) => f.startsWith(path.join(dir, 'in')));
    expect(findCircle(g.edges)?.map((f) => path.relative(dir, f))).toEqual([
      'in/a.ts',
      'in/sub/index.ts',
      'in/sub/lazy.ts',
      'in/a.ts',
    ]);
  });
});
