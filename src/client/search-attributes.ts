/**
 * Flotilla's search attributes on a Temporal service (src/mission/types.ts names them and their
 * types): the `temporal` CLI's flags that register them on a dev server, and their registration
 * on any namespace through the operator API before a mission starts.
 */
import { type Connection, isGrpcServiceError } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_TYPES, SEARCH_ATTRIBUTES } from '../mission/types';
import { CliError, EXIT } from './errors';

/** The `temporal` CLI's names of search attribute types (`--search-attribute Name=Type`). */
const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

type AttributeName = keyof typeof SEARCH_ATTRIBUTES;
const ATTRIBUTE_NAMES = Object.keys(SEARCH_ATTRIBUTES) as AttributeName[];

/** The `temporal` CLI's type name of one of Flotilla's attributes, by its name (`FlotillaProgress` -> `Int`). */
export function cliTypeName(name: string): string {
  const a = ATTRIBUTE_NAMES.find((k) => SEARCH_ATTRIBUTES[k] === name);
  return a ? CLI_TYPE_NAMES[SEARCH_ATTRIBUTE_TYPES[a]] : 'Keyword';
}

/** `--search-attribute Name=Type` flags of `temporal server start-dev` for every one of Flotilla's attributes. */
export function searchAttributeFlags(): string[] {
  return ATTRIBUTE_NAMES.flatMap((a) => [
    '--search-attribute',
    `${SEARCH_ATTRIBUTES[a]}=${CLI_TYPE_NAMES[SEARCH_ATTRIBUTE_TYPES[a]]}`,
  ]);
}

const { IndexedValueType } = temporal.api.enums.v1;
const indexedType = (a: AttributeName): temporal.api.enums.v1.IndexedValueType =>
  IndexedValueType[`INDEXED_VALUE_TYPE_${SEARCH_ATTRIBUTE_TYPES[a]}`];

/** gRPC status ALREADY_EXISTS. */
const GRPC_ALREADY_EXISTS = 6;

/** How long {@link ensureSearchAttributes} waits for attributes it added to be listed, ms. */
const REGISTRATION_WAIT_MS = 15_000;

/**
 * Flotilla's attributes `namespace` cannot be set yet, from `custom` (name -> indexed type, as
 * `listSearchAttributes` answers): missing ones, and ones registered by hand with another type
 * (every upsert of those would fail).
 */
function unusableIn(custom: Record<string, temporal.api.enums.v1.IndexedValueType>): AttributeName[] {
  return ATTRIBUTE_NAMES.filter((a) => custom[SEARCH_ATTRIBUTES[a]] !== indexedType(a));
}

/**
 * Registers Flotilla's search attributes that `namespace` lacks, each with its type, through the
 * operator API (idempotent: a second call, or another client racing this one, adds nothing), and
 * waits (at most {@link REGISTRATION_WAIT_MS}) until `listSearchAttributes` shows them, since a
 * workflow that sets an attribute the service does not know yet fails its workflow task. Missions
 * always set them: `run`, `start` and `retry` call this before they start a workflow.
 * A namespace whose attributes cannot even be listed (no operator API) is left as it is: starting
 * the workflow then fails with the service's own error if one is missing.
 * @throws CliError (exit 1) when some are still missing or have another type (registering was
 *   not allowed: no operator rights, or Temporal Cloud, where attributes are added in its own
 *   console), naming each with the command that registers it; nothing has been started
 */
export async function ensureSearchAttributes(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
): Promise<void> {
  const list = async (): Promise<Record<string, temporal.api.enums.v1.IndexedValueType>> =>
    (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  let custom: Record<string, temporal.api.enums.v1.IndexedValueType>;
  try {
    custom = await list();
  } catch {
    return;
  }
  if (missingIn(custom).length > 0) custom = await register(connection, namespace, custom, list);
  const unusable = unusableIn(custom);
  if (unusable.length === 0) return;
  const what = unusable.map((a) =>
    SEARCH_ATTRIBUTES[a] in custom
      ? `${SEARCH_ATTRIBUTES[a]} is registered with another type than ${CLI_TYPE_NAMES[SEARCH_ATTRIBUTE_TYPES[a]]}`
      : `${SEARCH_ATTRIBUTES[a]} is missing`,
  );
  const commands = unusable
    .filter((a) => !(SEARCH_ATTRIBUTES[a] in custom))
    .map(
      (a) =>
        `temporal operator search-attribute create --namespace ${namespace} --name ${SEARCH_ATTRIBUTES[a]} --type ${CLI_TYPE_NAMES[SEARCH_ATTRIBUTE_TYPES[a]]}`,
    );
  throw new CliError(
    `namespace ${namespace} cannot hold Flotilla's search attributes, which every mission sets (${what.join('; ')}), ` +
      `and Flotilla could not register them (no operator rights?); nothing was started. ` +
      (commands.length
        ? `Register them (Temporal Cloud: in its console, same names and types): ${commands.join(' && ')}`
        : 'Remove the attributes registered with another type, or use another namespace (TEMPORAL_NAMESPACE)'),
    EXIT.failed,
  );
}

/** Flotilla's attributes that `custom` (as `listSearchAttributes` answers) lacks. */
function missingIn(custom: Record<string, temporal.api.enums.v1.IndexedValueType>): AttributeName[] {
  return ATTRIBUTE_NAMES.filter((a) => !(SEARCH_ATTRIBUTES[a] in custom));
}

/** Adds the attributes `custom` lacks; returns the list once they show (or the wait ran out). */
async function register(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
  custom: Record<string, temporal.api.enums.v1.IndexedValueType>,
  list: () => Promise<Record<string, temporal.api.enums.v1.IndexedValueType>>,
): Promise<Record<string, temporal.api.enums.v1.IndexedValueType>> {
  const missing = missingIn(custom);
  for (let round = 0; ; round++) {
    try {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missingIn(custom).map((a) => [SEARCH_ATTRIBUTES[a], indexedType(a)])),
      });
      break;
    } catch (err) {
      // Not allowed, not implemented: waiting will not change it.
      if (!(isGrpcServiceError(err) && err.code === GRPC_ALREADY_EXISTS)) return list().catch(() => custom);
      // Another client added some first and the service refused the whole call: add the rest.
      custom = await list().catch(() => custom);
      if (missingIn(custom).length === 0 || round === 2) break;
    }
  }
  const deadline = Date.now() + REGISTRATION_WAIT_MS;
  for (;;) {
    try {
      custom = await list();
    } catch {
      // Keep the last answer.
    }
    if (missing.every((a) => SEARCH_ATTRIBUTES[a] in custom) || Date.now() > deadline) return custom;
    await new Promise((r) => setTimeout(r, 250));
  }
}
