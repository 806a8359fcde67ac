/**
 * What a person should do next about a mission, in commands: the part of the story that the Web
 * UI's current details, `status` and `watch` all end with. Pure: the workflows and the client
 * both use it.
 */
import type { MissionProgress } from './progress';

/** At most this many `retry` commands are suggested for a failed mission (the rest are alike). */
const MAX_RETRY_SUGGESTIONS = 3;

/**
 * The commands that move the mission on from where it is, most useful first; empty while it runs
 * on its own or when nothing is left to do. A blocked or paused mission's reason names its
 * commands in backticks (the workflows write them so); those come first, then `resume`.
 * A failed mission suggests `retry` for its failed tasks; a completed one not yet landed, `land`.
 */
export function nextSteps(p: MissionProgress): string[] {
  const id = p.missionId;
  const named = [...(p.reason ?? '').matchAll(/`(flotilla [^`]+)`/g)].map((m) => m[1]);
  const unique = (xs: string[]): string[] => [...new Set(xs)];
  switch (p.phase) {
    case 'blocked':
    case 'paused':
      return unique([...named, `flotilla resume ${id}`]);
    case 'failed':
      return unique([
        ...named,
        ...p.tasks
          .filter((t) => t.status === 'failed')
          .slice(0, MAX_RETRY_SUGGESTIONS)
          .map((t) => `flotilla retry ${id} ${t.id}`),
      ]);
    case 'completed':
      return p.mergeQueue?.landing?.status === 'landed' ? [] : [`flotilla land ${id}`];
    default:
      return [];
  }
}
