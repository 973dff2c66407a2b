import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
// Documents outside the repository that comments once pointed at (spelled in pieces so that this file does not match).
const OUTSIDE = new RegExp(['DESIGN', 'STYLE', 'protocols'].map((n) => `\\b${n}\\.md\\b`).join('|') + '|/work/' + 'shared');

describe('the repository stands on its own', () => {
  it('no tracked file points at a document outside it', () => {
    const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
    const hits = files
      .filter((f) => f !== 'package-lock.json')
      .flatMap((f) => {
        let text: string;
        try {
          text = readFileSync(join(ROOT, f), 'utf8');
        } catch {
          return []; // deleted in the work tree
        }
        return text
          .split('\n')
          .map((line, i) => ({ line, i }))
          .filter(({ line }) => OUTSIDE.test(line))
          .map(({ line, i }) => `${f}:${i + 1}: ${line.trim()}`);
      });
    expect(hits).toEqual([]);
  });
});
