/** How the CLI shows missions to people: plans, progress events, status tables, summaries. */
import type { MissionProgress } from '../mission/progress';
import type { MissionSpec } from '../mission/types';
import { formatDuration } from '../mission/duration';

const STATUS_MARK: Record<string, string> = {
  pending: '·',
  running: '▶',
  succeeded: '✓',
  merged: '✔',
  failed: '✗',
  skipped: '↷',
  conflict: '⚠',
  cancelled: '■',
};

export function renderPlan(spec: MissionSpec, waves: string[][], file: string): string {
  const lines = [
    `mission ${spec.id} (${file})`,
    `  repo: ${spec.repo}${spec.base ? `  base: ${spec.base}` : ''}`,
    `  ${spec.tasks.length} task${spec.tasks.length === 1 ? '' : 's'} in ${waves.length} wave${waves.length === 1 ? '' : 's'}, concurrency ${spec.concurrency}`,
  ];
  waves.forEach((ids, i) => {
    lines.push(`  wave ${i}:`);
    for (const id of ids) {
      const t = spec.tasks.find((x) => x.id === id)!;
      const deps = [
        t.dependsOn.length ? `after ${t.dependsOn.join(', ')}` : '',
        t.after?.length ? `serialized after ${t.after.join(', ')}: touches overlap` : '',
      ].filter(Boolean);
      const notes = deps.length ? `  (${deps.join('; ')})` : '';
      lines.push(`    - ${id}: ${t.title} [${t.agent.runtime}]${notes}`);
    }
  });
  return lines.join('\n');
}

function shortSha(sha: string | null): string {
  return sha ? sha.slice(0, 8) : '-';
}

export function renderStatus(p: MissionProgress): string {
  const c = p.counts;
  const lines = [
    `mission ${p.missionId}: ${p.phase}${p.reason ? ` (${p.reason})` : ''}`,
    `  ${p.percent}% · ${c.merged}/${c.total} merged${c.running ? ` · ${c.running} running` : ''}${c.failed ? ` · ${c.failed} failed` : ''}${c.skipped ? ` · ${c.skipped} skipped` : ''}${c.conflict ? ` · ${c.conflict} conflict` : ''}${c.cancelled ? ` · ${c.cancelled} cancelled` : ''}`,
    `  repo ${p.repo}`,
    ...(p.costUsd || p.inputTokens || p.outputTokens || p.budgetUsd
      ? [
          `  cost $${p.costUsd.toFixed(4)}${p.budgetUsd ? ` of $${p.budgetUsd} budget` : ''} · ${p.inputTokens} input / ${p.outputTokens} output tokens`,
        ]
      : []),
    `  base ${p.baseBranch} @ ${shortSha(p.baseSha)} -> ${p.integrationBranch} @ ${shortSha(p.integrationSha)}`,
  ];
  for (const w of p.waves) {
    lines.push(
      `  wave ${w.index} ${w.status}${w.index === p.currentWave && !['merged', 'skipped'].includes(w.status) ? '  <' : ''}`,
    );
    for (const id of w.taskIds) {
      const t = p.tasks.find((x) => x.id === id)!;
      const extra = [
        t.attempts > 1 ? `attempts ${t.attempts}` : '',
        t.headSha ? shortSha(t.headSha) : '',
        t.diffstat ? `+${t.diffstat.insertions}/-${t.diffstat.deletions}` : '',
        t.costUsd ? `$${t.costUsd.toFixed(4)}` : '',
        t.inputTokens || t.outputTokens ? `${t.inputTokens}/${t.outputTokens} tokens` : '',
        t.sessionId ? `session ${t.sessionId.slice(0, 8)}` : '',
      ]
        .filter(Boolean)
        .join(' ');
      lines.push(`    ${STATUS_MARK[t.status] ?? '?'} ${t.id.padEnd(20)} ${t.status.padEnd(9)} ${extra}`);
      if (t.error) lines.push(`      ${t.error.split('\n')[0].slice(0, 300)}`);
    }
  }
  lines.push(...renderQueue(p));
  if (p.uiUrl) lines.push(`  Web UI: ${p.uiUrl}`);
  return lines.join('\n');
}

/** The merge queue's part of `status`: the batch in flight, what waits, conflicts, predictions. */
function renderQueue(p: MissionProgress): string[] {
  const q = p.mergeQueue;
  if (!q) return [];
  const lines: string[] = [];
  if (q.batch) lines.push(`  merge queue: batch ${q.batch.index} ${q.batch.step} (${q.batch.taskIds.join(', ')})`);
  if (q.queue.length) lines.push(`  waiting to merge: ${q.queue.join(', ')}`);
  for (const c of q.conflicts) {
    const withWhom = c.withTasks.length ? ` with ${c.withTasks.join(', ')}` : '';
    lines.push(
      `  conflict ${c.taskId}${withWhom} in ${c.files.join(', ')}: ${c.state}${c.attempts ? ` (resolver runs: ${c.attempts})` : ''}`,
    );
    if (c.note) lines.push(`    ${c.note.split('\n')[0].slice(0, 300)}`);
  }
  for (const x of q.predictedConflicts) lines.push(`  predicted conflict: ${x.a} and ${x.b} in ${x.files.join(', ')}`);
  for (const [id, running] of Object.entries(q.waitingFor))
    if (running.length) lines.push(`  ${id} waits for ${running.join(', ')} (its touches match their changes)`);
  const failedRuns = q.verifyRuns.filter((r) => !r.ok).length;
  if (q.verifyRuns.length)
    lines.push(
      `  verify runs: ${q.verifyRuns.length}${failedRuns ? ` (${failedRuns} failed)` : ''} over ${q.batches} batches`,
    );
  return lines;
}

/** Lines describing what changed between two progress snapshots (for `run` and `watch`). */
export function progressEvents(prev: MissionProgress | undefined, next: MissionProgress): string[] {
  // Tasks first, then waves, then the mission: the order in which things happen.
  const out: string[] = [];
  for (const t of next.tasks) {
    const before = prev?.tasks.find((x) => x.id === t.id);
    if (before?.status === t.status && before?.error === t.error) continue;
    if (!before && t.status === 'pending') continue;
    let line = `  ${STATUS_MARK[t.status] ?? '?'} ${t.id} ${t.status}`;
    if ((t.status === 'succeeded' || t.status === 'merged') && t.diffstat && before?.status !== 'succeeded') {
      line += ` (${t.diffstat.files} files, +${t.diffstat.insertions}/-${t.diffstat.deletions})`;
    }
    if (t.status === 'merged') line += ` into ${next.integrationBranch}`;
    if (t.error) line += `: ${t.error.split('\n')[0].slice(0, 300)}`;
    out.push(line);
  }
  for (const w of next.waves) {
    const before = prev?.waves[w.index];
    if (before?.status !== w.status && w.status !== 'pending')
      out.push(`wave ${w.index} ${w.status} (${w.taskIds.join(', ')})`);
  }
  if (!prev || prev.phase !== next.phase) out.push(`mission ${next.phase}${next.reason ? `: ${next.reason}` : ''}`);
  else if (prev.reason !== next.reason && next.reason) out.push(`mission ${next.phase}: ${next.reason}`);
  return out;
}

export function renderSummary(p: MissionProgress, elapsedMs: number): string {
  const lines = [
    '',
    `mission ${p.missionId} ${p.phase} in ${formatDuration(elapsedMs)}: ${p.counts.merged}/${p.counts.total} tasks merged${p.reason ? ` (${p.reason})` : ''}`,
    `  integration branch: ${p.integrationBranch} @ ${shortSha(p.integrationSha)} in ${p.repo}`,
    `  look:   git -C ${p.repo} log --graph --oneline ${p.integrationBranch}`,
  ];
  lines.push(...renderQueue(p));
  if (p.uiUrl) lines.push(`  Web UI: ${p.uiUrl}`);
  return lines.join('\n');
}
