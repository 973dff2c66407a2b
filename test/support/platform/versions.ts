import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The pinned releases of the real-platform tier (test/platform), read from scripts/platform-versions.env,
 * the one file that scripts/fetch-platform.sh sources too. docker/compose.yaml pins the same versions
 * (test/deploy/compose.spec.ts checks it).
 */
export const PLATFORM_VERSIONS_FILE = join(__dirname, '../../../scripts/platform-versions.env');

export function platformVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(PLATFORM_VERSIONS_FILE, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=([^\s#]+)\s*(#.*)?$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

export const KEYCLOAK_VERSION = platformVersions().KEYCLOAK_VERSION;
export const TRINO_VERSION = platformVersions().TRINO_VERSION;
export const GATEWAY_VERSION = platformVersions().TRINO_GATEWAY_VERSION;
