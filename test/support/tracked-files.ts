import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository's root. */
export const REPO_ROOT = join(__dirname, '../..');

/** The files git tracks (under `pathspecs`, or all), as paths relative to the root. */
export function trackedFiles(...pathspecs: string[]): string[] {
  return execFileSync('git', ['ls-files', '-z', '--', ...pathspecs], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
}

/** A tracked file's text, or undefined when it is deleted in the work tree. */
export function trackedText(file: string): string | undefined {
  try {
    return readFileSync(join(REPO_ROOT, file), 'utf8');
  } catch {
    return undefined;
  }
}
