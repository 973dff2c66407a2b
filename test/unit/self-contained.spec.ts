import { trackedFiles, trackedText } from '../support/tracked-files';

// Documents outside the repository that comments once pointed at (spelled in pieces so that this file does not match).
const OUTSIDE = new RegExp(['DESIGN', 'STYLE', 'protocols'].map((n) => `\\b${n}\\.md\\b`).join('|') + '|/work/' + 'shared');

describe('the repository stands on its own', () => {
  it('no tracked file points at a document outside it', () => {
    const hits = trackedFiles()
      .filter((f) => f !== 'package-lock.json')
      .flatMap((f) => {
        const text = trackedText(f);
        if (text === undefined) return [];
        return text
          .split('\n')
          .map((line, i) => ({ line, i }))
          .filter(({ line }) => OUTSIDE.test(line))
          .map(({ line, i }) => `${f}:${i + 1}: ${line.trim()}`);
      });
    expect(hits).toEqual([]);
  });
});
