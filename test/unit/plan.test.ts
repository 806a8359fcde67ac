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
