/**
 * The merge queue on a real dev server with real git and real processes (`command` agents and
 * resolvers): two tasks editing the same lines resolved by a resolver agent with both sides kept;
 * resolutions that leave markers or drop a side rejected (the mission blocks with the reason);
 * a flaky mission verify passing on its rerun; a culprit bisected out of a batch and fixed by its
 * agent; the integration branch holding only verified merges, one per task.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { names } from '../../src/mission/types';
import { skipUpdate } from '../../src/workflows/messages';
import { git, makeRepo, tempDir } from '../helpers/git';
import { replayRecorded } from '../helpers/histories';
import { bashAgent, mission, task, waitFor } from '../helpers/missions';
import { missionResult } from '../helpers/outcome';
import { claudeEnv, RecordedRequest, reply, startAnthropicStub } from '../helpers/stub-anthropic';
import { startDevServer } from '../helpers/temporal';
import { runMission, startMission, startTestWorkers } from '../helpers/worker';

let env: TestWorkflowEnvironment;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
const taskQueue = 'flotilla-queue-it';
const scratch = tempDir('flotilla-queue-scratch-');

beforeAll(async () => {
  env = await startDevServer();
  workers = await startTestWorkers(env, taskQueue, 'queue-it', tempDir('flotilla-home-'));
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
});

const lines = Array.from({ length: 12 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
/** A bash line that sets line `n` (1-based) of shared.txt (test code, not user input). */
const setLine = (n: number, text: string) => `sed -i '${n}s/.*/${text}/' shared.txt`;
/** A bash line that appends a line to shared.txt. */
const append = (text: string) => `echo '${text}' >> shared.txt`;

/** Each side changes line 6 (the conflict) and adds a line far from it (kept by a correct resolution). */
function conflictingTasks() {
  return [
    task('en', `${setLine(6, 'greeting: hello')}; ${setLine(1, 'title: en')}`),
    task('fr', `sleep 2; ${setLine(6, 'greeting: bonjour')}; ${append('signed: fr')}`),
  ];
}

/** A resolver that keeps both sides' lines in every conflicted file (a union merge of its stages). */
const unionResolver = bashAgent(
  [
    'while IFS= read -r f; do',
    '  [ -n "$f" ] || continue',
    '  git show ":1:$f" > "$f.base"; git show ":2:$f" > "$f.ours"; git show ":3:$f" > "$f.theirs"',
    '  git merge-file --union -p "$f.ours" "$f.base" "$f.theirs" > "$f"; rm -f "$f.base" "$f.ours" "$f.theirs"',
    '  echo "kept both sides of $f"',
    'done <<< "$FLOTILLA_CONFLICTS"',
  ].join('\n'),
);

const integrationFile = (repo: string, id: string, file: string) =>
  git(repo, 'show', `${names.integrationBranch(id)}:${file}`);
const mergeSubjects = (repo: string, id: string) =>
  git(repo, 'log', '--first-parent', '--format=%s', names.integrationBranch(id))
    .split('\n')
    .filter((s) => s.startsWith('flotilla: merge'));

test('two tasks editing the same lines: the resolver agent merges them, both sides kept, checked and verified', async () => {
  const repo = makeRepo({ 'shared.txt': lines });
  const spec = mission('resolve-it', repo, conflictingTasks(), {
    verify: ['! grep -q "^<<<<<<<" shared.txt'],
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'resolve', onVerifyFailure: 'fail' },
    resolver: unionResolver,
  });
  const result = await runMission(env, taskQueue, spec);
  expect(result.phase).toBe('completed');
  const merged = integrationFile(repo, spec.id, 'shared.txt');
  // Both intents, and each side's line outside the conflict.
  for (const kept of ['greeting: hello', 'greeting: bonjour', 'title: en', 'signed: fr'])
    expect(merged).toContain(kept);
  expect(merged).not.toMatch(/^(<<<<<<<|=======|>>>>>>>)/m);
  expect(mergeSubjects(repo, spec.id)).toEqual(['flotilla: merge fr: Task fr', 'flotilla: merge en: Task en']);
  // The resolution is a real merge of the task branch onto what was merged before it.
  const tip = names.integrationBranch(spec.id);
  expect(git(repo, 'rev-parse', `${tip}^2`)).toBe(git(repo, 'rev-parse', names.taskBranch(spec.id, 'fr')));
  expect(result.mergeQueue!.conflicts).toEqual([
    expect.objectContaining({ taskId: 'fr', files: ['shared.txt'], withTasks: ['en'], state: 'resolved', attempts: 1 }),
  ]);
  // rerere recorded the resolution (a postimage in the shared rr-cache), so a rebuilt batch
  // replays it; and it was on only for Flotilla's commands, never in the repository's config.
  const rr = path.join(repo, '.git', 'rr-cache');
  expect(readdirSync(rr).some((id) => existsSync(path.join(rr, id, 'postimage')))).toBe(true);
  expect(() => git(repo, 'config', '--get', 'rerere.enabled')).toThrow();
  // Merged worktrees were removed; the conflict worktree too.
  expect(existsSync(path.join(workers!.home, 'worktrees', spec.id))).toBe(true);
  const left = git(repo, 'worktree', 'list', '--porcelain')
    .split('\n')
    .filter((l) => l.startsWith('worktree ') && l.includes(`${path.sep}${spec.id}${path.sep}`));
  expect(left.map((l) => path.basename(l))).toEqual(['integration']);
});

test('the real Claude Code CLI as the resolver agent of a mission (stub model server): both sides kept, checked, merged', async () => {
  const requests: RecordedRequest[] = [];
  // The model's side of the conversation: look at the conflicted files, merge both sides, explain.
  const stub = await startAnthropicStub((req) => {
    requests.push(req);
    const turn = req.messages.filter((x) => (x as { role?: string }).role === 'assistant').length;
    if (turn === 0)
      return reply.toolUse('Bash', {
        command: [
          'while IFS= read -r f; do',
          '  git show ":1:$f" > "$f.base"; git show ":2:$f" > "$f.ours"; git show ":3:$f" > "$f.theirs"',
          '  git merge-file --union -p "$f.ours" "$f.base" "$f.theirs" > "$f"; rm -f "$f.base" "$f.ours" "$f.theirs"',
          'done <<< "$FLOTILLA_CONFLICTS"',
        ].join('\n'),
        description: 'merge both sides of each conflicted file',
      });
    return reply.text("Kept both greetings (hello from en, bonjour from fr) and each side's other line.");
  });
  const saved = { ...process.env };
  // The in-process worker passes ANTHROPIC_* and HOME to a claude agent: point them at the stub.
  Object.assign(process.env, claudeEnv(stub, tempDir('claude-home-')));
  try {
    const repo = makeRepo({ 'shared.txt': lines });
    const spec = mission('claude-resolve', repo, conflictingTasks(), {
      policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'resolve', onVerifyFailure: 'fail' },
      resolver: {
        ...bashAgent('unused'),
        runtime: 'claude',
        command: undefined,
        model: 'claude-sonnet-4-5',
        timeoutMs: 120_000,
      },
    });
    const result = await runMission(env, taskQueue, spec);
    expect(result.phase).toBe('completed');
    const merged = integrationFile(repo, spec.id, 'shared.txt');
    for (const kept of ['greeting: hello', 'greeting: bonjour', 'title: en', 'signed: fr'])
      expect(merged).toContain(kept);
    expect(result.mergeQueue!.conflicts).toEqual([
      expect.objectContaining({
        taskId: 'fr',
        state: 'resolved',
        attempts: 1,
        note: expect.stringContaining('Kept both greetings'),
      }),
    ]);
    // The resolver's contract and prompt: the rules, both tasks' prompts, the conflicted file.
    expect(requests[0].system).toContain('You are resolving a merge in progress');
    const prompt = JSON.stringify(requests[0].messages);
    for (const part of ['do en', 'do fr', 'shared.txt']) expect(prompt).toContain(part);
  } finally {
    process.env = saved;
    await stub.close();
  }
}, 180_000);

test('a resolution with markers left, then one that drops a side, are both rejected; the mission blocks until the task is skipped', async () => {
  const repo = makeRepo({ 'shared.txt': lines });
  const runs = path.join(scratch, 'bad-resolver.runs');
  // Run 1 leaves the file as git wrote it (markers); run 2 takes `ours` whole (drops fr's line).
  const badResolver = bashAgent(
    [
      `echo run >> '${runs}'`,
      `if [ "$(wc -l < '${runs}')" -ge 2 ]; then git checkout --ours -- shared.txt; echo "took ours"; else echo "left it"; fi`,
    ].join('\n'),
  );
  const spec = mission('reject-it', repo, conflictingTasks(), {
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'resolve', onVerifyFailure: 'fail' },
    resolver: badResolver,
  });
  const handle = await startMission(env, taskQueue, spec);
  const blocked = await waitFor(env.client, spec.id, (p) => p.phase === 'blocked', 90_000);
  expect(blocked.reason).toMatch(
    /^task fr: merge conflict with en in shared\.txt; the resolver agent could not resolve it \(/,
  );
  const conflict = blocked.mergeQueue!.conflicts.find((c) => c.taskId === 'fr')!;
  expect(conflict).toMatchObject({ state: 'blocked', attempts: 2 });
  // The second run's rejection: a side dropped, named with the file and the line it lost.
  expect(conflict.note).toMatch(/shared\.txt: 1 line\(s\) that the task branch being merged \(task "fr"/);
  expect(conflict.note).toContain('signed: fr');
  // Nothing of fr reached the integration branch.
  expect(mergeSubjects(repo, spec.id)).toEqual(['flotilla: merge en: Task en']);
  await handle.executeUpdate(skipUpdate, { args: [{ taskId: 'fr' }] });
  const result = await missionResult(handle);
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['en', 'merged'],
    ['fr', 'skipped'],
  ]);
}, 180_000);

test('a flaky mission verify passes on its rerun; a culprit is bisected out of its batch and fixed by its agent', async () => {
  const repo = makeRepo({ 'README.md': '# queue\n' });
  const flakyCount = path.join(scratch, 'flaky.count');
  // Fails once (the first verify of the mission), and wherever BROKEN is committed.
  const verify = [
    `n=$(cat '${flakyCount}' 2>/dev/null || echo 0); echo $((n+1)) > '${flakyCount}'; [ "$n" -ge 1 ]`,
    '! git grep -q BROKEN',
  ];
  const spec = mission(
    'bisect-it',
    repo,
    [
      task('w', 'echo w > w.txt'),
      ...['p', 'q', 'r', 's'].map((id) =>
        task(
          id,
          id === 'r'
            ? // The culprit: its first run commits BROKEN; the fix prompt makes it repair that.
              `case "$FLOTILLA_PROMPT" in *"mission's verification failed"*) sed -i s/BROKEN/fine/ r.txt;; *) sleep 3; echo BROKEN > r.txt;; esac`
            : `sleep 3; echo ${id} > ${id}.txt`,
          { maxIterations: 2 },
        ),
      ),
    ],
    {
      concurrency: 5,
      verify: ['sleep 2', ...verify],
      policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'fail', onVerifyFailure: 'fix' },
    },
  );
  const result = await runMission(env, taskQueue, spec);
  expect(result.phase).toBe('completed');
  expect(result.tasks.every((t) => t.status === 'merged')).toBe(true);
  const runs = result.mergeQueue!.verifyRuns.map((r) => `${r.kind}:${r.taskIds.join('')}:${r.ok ? 'ok' : 'fail'}`);
  // w's batch fails once (flaky) and passes its rerun.
  expect(runs.slice(0, 2)).toEqual(['batch:w:fail', 'rerun:w:ok']);
  // The batch holding r fails twice, bisection names r, and r merges after its agent's fix.
  expect(runs).toContain('rerun:pqrs:fail');
  expect(result.tasks.find((t) => t.id === 'r')!.attempts).toBe(2);
  expect(integrationFile(repo, spec.id, 'r.txt').trim()).toBe('fine');
  // The integration branch never held BROKEN: every commit on its first-parent chain is verified.
  const chain = git(repo, 'rev-list', '--first-parent', names.integrationBranch(spec.id)).split('\n');
  const holdsBroken = (sha: string): boolean => {
    try {
      git(repo, 'grep', '-q', 'BROKEN', sha, '--', '.');
      return true;
    } catch {
      return false; // git grep exits 1 when nothing matches
    }
  };
  expect(chain.filter(holdsBroken)).toEqual([]);
  expect(mergeSubjects(repo, spec.id).sort()).toEqual(
    ['p', 'q', 'r', 's', 'w'].map((id) => `flotilla: merge ${id}: Task ${id}`).sort(),
  );
}, 180_000);

test('every history this suite recorded replays against the current workflow code', async () => {
  const replayed = await replayRecorded(env, taskQueue, /^mission-(resolve-it|reject-it|bisect-it)(\/|$)/);
  expect(replayed).toBeGreaterThanOrEqual(3);
});
