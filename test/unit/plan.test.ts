import { CycleError, dependentsOf, findCycle, planWaves } from '../../src/mission/plan';

const n = (id: string, ...dependsOn: string[]) => ({ id, dependsOn });

describe('planWaves', () => {
  test('independent tasks share wave 0, in file order', () => {
    expect(planWaves([n('b'), n('a'), n('c')])).toEqual([['b', 'a', 'c']]);
  });
  test('a task sits one wave after its deepest dependency', () => {
    expect(planWaves([n('d', 'b', 'c'), n('a'), n('b', 'a'), n('c'), n('e', 'a')])).toEqual([
      ['a', 'c'],
      ['b', 'e'],
      ['d'],
    ]);
  });
  test('a cycle is refused and named in dependency order', () => {
    expect(() => planWaves([n('a', 'b'), n('b', 'c'), n('c', 'a')])).toThrow(new CycleError(['a', 'b', 'c', 'a']));
    expect(findCycle([n('x'), n('y', 'y')])).toEqual(['y', 'y']);
    expect(findCycle([n('a'), n('b', 'a')])).toBeUndefined();
  });
});

test('dependentsOf follows dependencies transitively', () => {
  const nodes = [n('a'), n('b', 'a'), n('c', 'b'), n('d'), n('e', 'd', 'c')];
  expect(dependentsOf(nodes, 'a')).toEqual(['b', 'c', 'e']);
  expect(dependentsOf(nodes, 'd')).toEqual(['e']);
  expect(dependentsOf(nodes, 'e')).toEqual([]);
});

/**
 * 10,000 tasks in one dependency chain, listed so that a depth-first search from the first task
 * goes 10,000 calls deep: `t0` depends on `t1`, ..., `t9998` on `t9999`.
 */
const chain = (size: number): Array<{ id: string; dependsOn: string[] }> =>
  Array.from({ length: size }, (_, i) => n(`t${i}`, ...(i < size - 1 ? [`t${i + 1}`] : [])));

describe('a 10,000-task chain (no recursion: the stack would overflow)', () => {
  test('has no cycle and plans one task per wave, deepest dependency first', () => {
    const nodes = chain(10_000);
    expect(findCycle(nodes)).toBeUndefined();
    const waves = planWaves(nodes);
    expect(waves).toHaveLength(10_000);
    expect(waves[0]).toEqual(['t9999']);
    expect(waves[9_999]).toEqual(['t0']);
  });
  test('a cycle at its end is found and named in dependency order', () => {
    const nodes = chain(10_000);
    nodes[9_999].dependsOn.push('t9997');
    expect(findCycle(nodes)).toEqual(['t9997', 't9998', 't9999', 't9997']);
    expect(() => planWaves(nodes)).toThrow(CycleError);
  });
  test('dependentsOf the last task is every other task, in file order', () => {
    const deps = dependentsOf(chain(10_000), 't9999');
    expect(deps).toHaveLength(9_999);
    expect(deps.slice(0, 2)).toEqual(['t0', 't1']);
  });
  test('after (touches serialization) counts like a dependency', () => {
    const nodes = chain(10_000).map((x, i) => (i === 9_999 ? { ...x, after: ['t0'] } : x));
    expect(findCycle(nodes)).toEqual(expect.arrayContaining(['t0', 't9999']));
  });
});
