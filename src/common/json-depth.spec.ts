import fc from 'fast-check';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth';

/** The real nesting of a parsed value (objects and arrays count one level each). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((m, c) => Math.max(m, depthOf(c)), 0);
}

describe('nestsDeeperThan', () => {
  it('counts objects and arrays, at the limit and one past it', () => {
    expect(nestsDeeperThan('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH))).toBe(false);
    expect(nestsDeeperThan('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(nestsDeeperThan('{"a":'.repeat(3) + '1' + '}'.repeat(3), 2)).toBe(true);
    expect(nestsDeeperThan('{"a":[1],"b":{"c":[]}}', 3)).toBe(false);
    expect(nestsDeeperThan('{"a":[1],"b":{"c":[]}}', 2)).toBe(true);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(nestsDeeperThan(JSON.stringify({ s: '[[[[{{{{' }), 1)).toBe(false);
    expect(nestsDeeperThan(JSON.stringify({ s: 'a\\"[[[[', t: '\\' }), 1)).toBe(false);
    expect(nestsDeeperThan(JSON.stringify(['"', ['x']]), 1)).toBe(true);
  });

  it('stops at the first level too deep (a 200,000-deep text is refused, not walked)', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expect(nestsDeeperThan(deep)).toBe(true);
  });

  it('agrees with the parsed depth of any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 8 }), (value, max) => {
        expect(nestsDeeperThan(JSON.stringify(value), max)).toBe(depthOf(value) > max);
      }),
      { numRuns: 500 },
    );
  });
});
