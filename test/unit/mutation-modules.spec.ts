import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The module list of scripts/mutation.sh (name | what to mutate | the specs it is tested by) follows the
 * code: a file that moved, or a line range a change shifted, would otherwise mutate the wrong code
 * (or nothing) without a word.
 */
const root = join(__dirname, '../..');
const rows = [...readFileSync(join(root, 'scripts/mutation.sh'), 'utf8').matchAll(/^\s+"([a-z-]+)\|([^|"]+)\|([^|"]+)"$/gm)].map((m) => ({
  name: m[1],
  mutate: m[2].split(','),
  specs: m[3].split(','),
}));

describe('scripts/mutation.sh: the modules it mutates', () => {
  it('lists the security decision modules', () => {
    expect(rows.map((r) => r.name)).toEqual(expect.arrayContaining(['access-policy', 'token-verifier', 'access-decider', 'ws-ticket', 'mlflow-endpoints']));
    expect(new Set(rows.map((r) => r.name)).size).toBe(rows.length);
  });

  it.each(rows)('$name: its files and specs exist, and each line range is a whole exported function', ({ mutate, specs }) => {
    for (const spec of specs) expect([spec, existsSync(join(root, spec))]).toEqual([spec, true]);
    for (const entry of mutate) {
      const [file, range] = entry.split(':');
      expect([file, existsSync(join(root, file))]).toEqual([file, true]);
      if (range === undefined) continue;
      const [from, to] = range.split('-').map(Number);
      const lines = readFileSync(join(root, file), 'utf8').split('\n');
      expect([entry, lines[from - 1].startsWith('export function '), lines[to - 1]]).toEqual([entry, true, '}']);
    }
  });
});
