import { join } from 'node:path';
import { REPO_ROOT, trackedFiles, trackedText } from '../support/tracked-files';

/**
 * Tests assert what a user would notice, never how long something took: an elapsed-time bound fails
 * on a loaded machine (or when a library's timer fires a little early) while the behaviour is right.
 * Timeouts are checked by the limit the answer names, the closed upstream request, and timers of one
 * process that fire in the order they are due; speed belongs in bench/, as side-by-side ratios.
 *
 * This finds the comparisons (toBeLessThan / toBeGreaterThan, with or without OrEqual) of an elapsed
 * time: `Date.now() - t0`, `performance.now() - t0`, `process.hrtime…() - t0`, a variable assigned
 * from one, or an answer's `.ms`. Timestamps themselves (`Date.now() >= exp * 1000`, a ticket's
 * expiry minus now) are not elapsed times and pass.
 */
const COMPARISON = /\.(?:not\.)?toBe(?:Less|Greater)Than(?:OrEqual)?\(/y;
const ELAPSED = /(?:\b(?:Date|performance)\.now\(\)|\bprocess\.hrtime(?:\.bigint)?\([^)]*\))\s*-(?!-)|\.ms\b/;
/** Files allowed to compare elapsed times, each with its reason. None. */
const ALLOWED: Record<string, string> = {};

/** The argument of the expect( that opens at `open` (the index of its parenthesis), and the index after it. */
function argumentAt(text: string, open: number): { arg: string; end: number } | undefined {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return { arg: text.slice(open + 1, i), end: i + 1 };
  }
  return undefined;
}

/** `line: source` of each elapsed-time comparison in a file's text. */
export function elapsedTimeComparisons(text: string): string[] {
  // Names that hold an elapsed time: assigned one (also by destructuring), or an array one is pushed to; to a fixed point.
  const elapsedNames = new Set<string>();
  const mentionsName = (code: string, n: string) => new RegExp(`(?<![\\w$])${n.replace(/\$/g, '\\$')}(?![\\w$])`).test(code);
  const usesElapsed = (code: string) => ELAPSED.test(code) || [...elapsedNames].some((n) => mentionsName(code, n));
  const assignments = [
    ...[...text.matchAll(/\b([A-Za-z_$][\w$]*)\s*(?::[^=\n;]+)?=(?![=>])\s*([^;\n]+)/g)].map((m) => ({ names: [m[1]], value: m[2] })),
    ...[...text.matchAll(/\b(?:const|let|var)\s+[[{]([\w$,\s:]+)[\]}]\s*=\s*([^;\n]+)/g)].map((m) => ({
      names: m[1]
        .split(/[,:]/)
        .map((n) => n.trim())
        .filter(Boolean),
      value: m[2],
    })),
    ...[...text.matchAll(/\b([A-Za-z_$][\w$]*)\.push\(([^;\n]+)\)/g)].map((m) => ({ names: [m[1]], value: m[2] })),
  ];
  for (let grew = true; grew;) {
    grew = false;
    for (const { names, value } of assignments) {
      if (!usesElapsed(value)) continue;
      for (const n of names) if (!elapsedNames.has(n)) grew = Boolean(elapsedNames.add(n));
    }
  }
  const hits: string[] = [];
  for (const m of text.matchAll(/\bexpect\(/g)) {
    const found = argumentAt(text, m.index + 'expect'.length);
    if (!found) continue;
    COMPARISON.lastIndex = found.end;
    if (!COMPARISON.test(text) || !usesElapsed(found.arg)) continue;
    const line = text.slice(0, m.index).split('\n').length;
    hits.push(`${line}: ${text.split('\n')[line - 1].trim()}`);
  }
  return hits;
}

describe('no wall-clock assertions in tests', () => {
  it('no test compares an elapsed time with a number', () => {
    const files = trackedFiles('test', 'src', 'sandbox').filter((f) => /\.spec\.ts$/.test(f) || (f.startsWith('test/') && f.endsWith('.ts')));
    expect(files.length).toBeGreaterThan(100);
    const hits = files
      // This file's own examples are strings, not tests.
      .filter((f) => !(f in ALLOWED) && join(REPO_ROOT, f) !== __filename)
      .flatMap((f) => elapsedTimeComparisons(trackedText(f) ?? '').map((hit) => `${f}:${hit}`));
    expect(hits).toEqual([]);
  });

  it('finds the elapsed-time comparisons it is meant to find, and only those', () => {
    const flagged = [
      'const t0 = Date.now();\nawait go();\nexpect(Date.now() - t0).toBeLessThan(350);',
      'const started = performance.now();\nexpect(performance.now() - started).not.toBeGreaterThan(5);',
      'const elapsed = Date.now() - started;\nexpect(elapsed).toBeGreaterThanOrEqual(GATEWAY_TIMEOUT_MS - 50);',
      'let took: number;\ntook = Number(process.hrtime.bigint() - t0) / 1e6;\nexpect(took).toBeLessThan(1000);',
      'expect(res.ms).toBeLessThan(u.timeoutMs + SLACK_MS);',
      'const slowest = Math.max(...answers.map((a) => a.ms));\nexpect(slowest).toBeLessThan(3000);',
      'expect(\n  Date.now() - t,\n).toBeLessThan(1500);',
      'state.closedAfterIdleMs.push(Date.now() - since);\nconst [idle] = standIn.closedAfterIdleMs;\nexpect(idle).toBeGreaterThanOrEqual(950);',
    ];
    for (const code of flagged) expect([code, elapsedTimeComparisons(code).length]).toEqual([code, 1]);
    const fine = [
      'expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);',
      'expect(Date.parse(t.expiresAt) - Date.now()).toBeLessThanOrEqual(30_000);',
      'expect(entry.ttlMs).toBeGreaterThan(0);',
      'const deadline = Date.now() + 4000;\nexpect(pages).toBeLessThan(10);',
      'const elapsed = Date.now() - started;\nexpect(elapsed).toEqual(expect.any(Number));',
      "expect(err.detail).toBe('did not answer within 200 ms');",
    ];
    for (const code of fine) expect([code, elapsedTimeComparisons(code)]).toEqual([code, []]);
  });
});
