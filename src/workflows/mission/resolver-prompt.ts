/**
 * The prompt of a merge-conflict resolver agent (`onMergeConflict: resolve`): what is being merged
 * onto what, which files conflict, what each side meant (the tasks' prompts and summaries, their
 * diffs since the merge base), the rules its work is checked against (conflict.ts
 * `checkResolution`), and the problems a previous check found. Pure: workflow code builds it.
 */
import type { PrepareConflictResult } from '../../activities';
import type { CommandLine } from '../../mission/types';

/** A task as the resolver is told about it. */
export interface ResolverPromptTask {
  id: string;
  title: string;
  prompt: string;
  /** The agent's final words about its work, or null. */
  summary: string | null;
  /** The task's own verify commands (its gate), if any. */
  verify?: CommandLine[];
}

export interface ResolverPromptInput {
  /** The task whose branch is being merged (`theirs`, MERGE_HEAD). */
  task: ResolverPromptTask;
  /** The tasks already merged whose changes conflict with it (PrepareConflictResult.otherTasks). */
  others: ResolverPromptTask[];
  conflict: PrepareConflictResult;
  /** The mission's verify commands (run on the candidate after the merge). */
  missionVerify: CommandLine[];
  /** What a previous check of this merge's resolution found wrong (CheckResolutionResult.problems). */
  feedback?: string[];
}

/** A task's prompt is cut to this many characters. */
export const MAX_TASK_PROMPT_CHARS = 4000;
/** The whole prompt stays under this many characters. */
export const MAX_RESOLVER_PROMPT_CHARS = 40_000;
/** Summaries and each feedback problem are cut to this many characters. */
const MAX_SUMMARY_CHARS = 2000;
const MAX_FEEDBACK_CHARS = 4000;
const MAX_LOG_CHARS = 2000;
/** Files listed by name; more are counted (the full list is in $FLOTILLA_CONFLICTS). */
const MAX_FILES_LISTED = 100;

/** `text` cut to `max` characters with a note saying how much was left out. */
function cut(text: string, max: number, what: string): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n[… ${what} cut here: ${text.length - max} more characters not shown]`;
}

/** A command as a person would type it (an argv joined, words with spaces quoted). */
function shown(c: CommandLine): string {
  return typeof c === 'string' ? c : c.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

function fileList(files: string[]): string {
  const listed = files.slice(0, MAX_FILES_LISTED).map((f) => `- ${f}`);
  if (files.length > MAX_FILES_LISTED) listed.push(`- … and ${files.length - MAX_FILES_LISTED} more`);
  return listed.join('\n');
}

function taskBlock(t: ResolverPromptTask, promptMax: number, summaryMax = MAX_SUMMARY_CHARS): string {
  return [
    `### Task "${t.id}": ${t.title}`,
    'Its prompt:',
    promptMax > 0 ? cut(t.prompt, promptMax, 'prompt') : '[prompt left out to keep this message short]',
    t.summary ? `What its agent said it did:\n${cut(t.summary, summaryMax, 'summary')}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** The opening: what is being merged, the rules the resolution is checked against, the files. */
function rulesAndFiles(input: ResolverPromptInput): string[] {
  const { task, conflict } = input;
  const remaining = new Set(conflict.remaining);
  const replayed = conflict.conflicted.filter((f) => !remaining.has(f));
  return [
    `You are resolving a merge conflict. The branch of task "${task.id}" (${task.title}) is being merged into the mission's candidate, which already holds the work of other tasks. The merge is in progress, uncommitted, in this worktree (${conflict.worktree}): HEAD is the candidate ("ours"), MERGE_HEAD the task's branch ("theirs", ${conflict.branchTip.slice(0, 12)}), and their merge base ${conflict.mergeBase.slice(0, 12)}. Conflict markers are in diff3 style: ours after \`<<<<<<< HEAD\`, the merge base after \`|||||||\`, theirs after \`=======\`, up to \`>>>>>>>\` and the task branch's name.`,
    '',
    '## Rules',
    '- Edit only the files listed in $FLOTILLA_CONFLICTS (one path per line; the same files as below). Every other file must stay exactly as the merge left it; create no new files.',
    "- Keep both tasks' intent: the result must do what both tasks set out to do. Where they truly contradict, choose deliberately and say so; never drop a side silently.",
    "- Keep every change either side made outside the conflicting hunks: those merged cleanly. Taking one side's whole file (`git checkout --ours/--theirs`, `git restore --ours/--theirs`) drops the other side's changes and is rejected.",
    '- Remove every conflict marker line.',
    '- Do not commit, do not run `git merge --abort`, `git reset` or `git checkout` of a branch or commit; Flotilla checks your resolution and commits the merge.',
    '- When you are done, explain in your last message what you kept from each side (and anything you had to change to make them fit).',
    '',
    '## Files to resolve',
    conflict.remaining.length > 0
      ? `Still conflicted (with markers):\n${fileList(conflict.remaining)}`
      : 'None is left with markers: a resolution recorded earlier for the same conflict was replayed into every file.',
    ...(replayed.length > 0
      ? [
          `Resolved by replaying a resolution recorded earlier for the same conflict (check that it still fits both sides):\n${fileList(replayed)}`,
        ]
      : []),
  ];
}

/** What a previous check of the resolution found wrong, if anything. */
function rejected(input: ResolverPromptInput): string[] {
  const feedback = input.feedback?.filter((f) => f.trim()) ?? [];
  if (feedback.length === 0) return [];
  return [
    '',
    '## Your previous resolution was rejected',
    cut(feedback.map((f) => `- ${f}`).join('\n'), MAX_FEEDBACK_CHARS, 'the list of problems'),
    'Fix these in the worktree as it is now (your earlier edits are still there).',
  ];
}

/** The gates and the mission verify that run on the result. */
function checks(input: ResolverPromptInput): string[] {
  const { task, others } = input;
  const verify = [
    ...(task.verify ?? []).map((c) => `- task "${task.id}": ${shown(c)}`),
    ...others.flatMap((o) => (o.verify ?? []).map((c) => `- task "${o.id}": ${shown(c)}`)),
    ...input.missionVerify.map((c) => `- the mission: ${shown(c)}`),
  ];
  if (verify.length === 0) return [];
  return [
    '',
    '## Checks',
    'After you finish, these are run on the merged result; run the ones you can now, to check your resolution:',
    ...verify,
  ];
}

/** Each side's diff since the merge base, and what was merged on the candidate meanwhile. */
function diffs(input: ResolverPromptInput): string[] {
  const { task, others, conflict } = input;
  return [
    '',
    '## What each side changed in these files since the merge base',
    `Ours (the candidate: ${input.others.length > 0 ? `tasks ${others.map((o) => `"${o.id}"`).join(', ')} and any others merged before` : 'the tasks merged before'}), \`git diff ${conflict.mergeBase.slice(0, 12)} HEAD\`:`,
    '```diff',
    conflict.oursDiff.trimEnd(),
    '```',
    `Theirs (task "${task.id}"), \`git diff ${conflict.mergeBase.slice(0, 12)} MERGE_HEAD\`:`,
    '```diff',
    conflict.theirsDiff.trimEnd(),
    '```',
    '',
    '## Merged on the candidate since the merge base',
    cut(conflict.mergedLog.trim() || '(nothing)', MAX_LOG_CHARS, 'the log'),
  ];
}

/**
 * The resolver's prompt, at most {@link MAX_RESOLVER_PROMPT_CHARS} characters: the rules and the
 * files first, then the context (the other tasks' prompts are shortened, then left out, when it
 * would be longer; the diffs come cut at 12 000 characters each from prepareConflict).
 */
export function resolverPrompt(input: ResolverPromptInput): string {
  const { task, others } = input;
  const fixed = [...rulesAndFiles(input), ...rejected(input), ...checks(input)].join('\n');
  const fixedTail = diffs(input).join('\n');
  // The other tasks come last: with many of them, they are what gets shortened (the diffs show
  // what they did), and a final cut takes only from them.
  const render = (otherPromptMax: number, otherSummaryMax: number): string =>
    [
      fixed,
      '',
      '## The task being merged (theirs)',
      taskBlock(task, MAX_TASK_PROMPT_CHARS),
      fixedTail,
      ...(others.length > 0
        ? [
            '',
            '## The tasks already merged whose changes conflict (ours)',
            ...others.map((o) => taskBlock(o, otherPromptMax, otherSummaryMax)),
          ]
        : []),
    ].join('\n');

  for (const [prompt, summary] of [
    [MAX_TASK_PROMPT_CHARS, MAX_SUMMARY_CHARS],
    [1000, 500],
    [0, 300],
  ]) {
    const text = render(prompt, summary);
    if (text.length <= MAX_RESOLVER_PROMPT_CHARS) return text;
  }
  return cut(render(0, 300), MAX_RESOLVER_PROMPT_CHARS - 100, 'this message');
}
