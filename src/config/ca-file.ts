import { readFileSync } from 'node:fs';
import type { ConfigProblem } from './load-config';

/** A PEM file of one or more CA certificates (trusted instead of or beside the system's, as its key says), read at boot. */
export function readCaFile(key: string, path: string | undefined, problems: ConfigProblem[]): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    problems.push({ key, rule: 'must name a readable file' });
    return undefined;
  }
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(text)) {
    problems.push({ key, rule: 'must be a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)' });
    return undefined;
  }
  return text;
}
