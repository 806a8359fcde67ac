/**
 * A failure of host git work that the workflow must tell apart by its type (`ErrorType`,
 * src/mission/error-types.ts) and retry policy, without this library knowing Temporal: the
 * activities turn it into an ApplicationFailure of the same message, type, retry policy, details
 * and cause (src/activities/host-failures.ts). The CLI shows its message like any Error's.
 */
import type { ErrorTypeName } from '../mission/error-types';

/** What {@link HostFailure.create} takes: the fields of Temporal's `ApplicationFailure.create`. */
export interface HostFailureOptions {
  message: string;
  /** The error type the workflow matches on (recorded in histories: never change one). */
  type: ErrorTypeName;
  /** True when a retry cannot help (the workflow's retry policy stops at once). Default false. */
  nonRetryable?: boolean;
  /** Values the workflow reads from the failure (`ApplicationFailure.details`). */
  details?: unknown[];
  cause?: Error;
}

/** A typed failure of host code; see the module's comment. */
export class HostFailure extends Error {
  readonly type: ErrorTypeName;
  readonly nonRetryable: boolean;
  readonly details: unknown[];

  constructor(opts: HostFailureOptions) {
    super(opts.message, opts.cause ? { cause: opts.cause } : undefined);
    this.name = 'HostFailure';
    this.type = opts.type;
    this.nonRetryable = opts.nonRetryable ?? false;
    this.details = opts.details ?? [];
  }

  /** A failure the workflow's retry policy may retry. */
  static retryable(message: string, type: ErrorTypeName, ...details: unknown[]): HostFailure {
    return new HostFailure({ message, type, details });
  }

  /** A failure no retry can help: the workflow stops retrying at once. */
  static nonRetryable(message: string, type: ErrorTypeName, ...details: unknown[]): HostFailure {
    return new HostFailure({ message, type, nonRetryable: true, details });
  }
}
