/**
 * `scripts/temporal-cluster` and `docker-compose.yml` describe one Temporal service: the same
 * versions (the server the Temporal CLI bundles), ports and search attributes, and the attributes
 * are Flotilla's own with their types (src/mission/types.ts). `npm run test:cluster` runs them.
 */
import { SEARCH_ATTRIBUTE_TYPES, SEARCH_ATTRIBUTES } from '../../src/mission/types';
import { TEMPORAL_CLI_MODULE } from '../../src/client/server';
import {
  composeScript,
  composeServices,
  scriptDefaults,
  scriptSearchAttributes,
  scriptVariable,
} from '../helpers/cluster';

/** The Temporal CLI's names of the SDK's search attribute types. */
const CLI_TYPE: Record<string, string> = {
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  KEYWORD_LIST: 'KeywordList',
};

const flotillaAttributes = (): Record<string, string> =>
  Object.fromEntries(
    (Object.keys(SEARCH_ATTRIBUTES) as Array<keyof typeof SEARCH_ATTRIBUTES>).map((k) => [
      SEARCH_ATTRIBUTES[k],
      CLI_TYPE[SEARCH_ATTRIBUTE_TYPES[k]],
    ]),
  );

test("the script registers Flotilla's search attributes with their types, and uses the CLI Flotilla installs", () => {
  expect(scriptSearchAttributes()).toEqual(flotillaAttributes());
  expect(scriptVariable('CLI_MODULE')).toBe(TEMPORAL_CLI_MODULE);
});

test('docker-compose.yml runs the same versions on the same ports and registers the same attributes', () => {
  const services = composeServices();
  const defaults = scriptDefaults();
  expect(services.temporal.image).toBe(`temporalio/server:${scriptVariable('SERVER_VERSION')}`);
  expect(services['temporal-ui'].image).toBe(`temporalio/ui:${scriptVariable('UI_VERSION')}`);
  expect(services['temporal-init'].image).toMatch(
    new RegExp(`^temporalio/admin-tools:${scriptVariable('SERVER_VERSION')}-`),
  );
  expect(services.temporal.ports).toEqual([`127.0.0.1:${defaults.PORT}:7233`]);
  expect(services['temporal-ui'].ports).toEqual([`127.0.0.1:${defaults.UI_PORT}:8080`]);
  expect(services.postgresql.ports).toEqual([`127.0.0.1:${defaults.PG_PORT}:5432`]);
  expect(services['temporal-init'].environment?.NAMESPACE).toBe(defaults.NAMESPACE);
  const registered = Object.fromEntries(
    [...composeScript('temporal-init').matchAll(/(Flotilla\w+)=(\w+)/g)].map((m) => [m[1], m[2]]),
  );
  expect(registered).toEqual(flotillaAttributes());
});
