import type { Env } from './config/load-config';

/** The env keys one sandbox emulator sets, together (e.g. the LLM provider's URL, key and models). */
export interface SandboxEnvGroup {
  name: string;
  env: Record<string, string>;
}

/**
 * The env the BFF runs with in sandbox mode: the user's own env, completed by the sandbox's.
 *
 * - `forcedKeys` (the sandbox issuer's) always take the sandbox's value: sandbox mode means no
 *   KEYCLOAK_URL of the user's, and tokens come from the sandbox issuer only.
 * - Every other key is merged with its emulator's group, all or nothing: when the user set any key of
 *   a group (non-empty), none of that group's sandbox values apply. A user who points LLM_BASE_URL at
 *   a real provider must never have the sandbox's random LLM_API_KEY sent to it (nor the sandbox's
 *   model list offered); a group the user left alone points at its emulator entirely.
 */
export function mergeSandboxEnv(userEnv: Env, groups: readonly SandboxEnvGroup[], forcedKeys: readonly string[]): Env {
  const merged: Env = { ...userEnv };
  const isSet = (k: string) => typeof userEnv[k] === 'string' && userEnv[k] !== '';
  for (const group of groups) {
    const keys = Object.keys(group.env);
    for (const k of keys) if (forcedKeys.includes(k)) merged[k] = group.env[k];
    const own = keys.filter((k) => !forcedKeys.includes(k));
    if (own.some(isSet)) continue;
    for (const k of own) merged[k] = group.env[k];
  }
  return merged;
}

/** The emulators whose env the merge applied (the user set none of their keys): only those get demo data. */
export function appliedSandboxGroups(merged: Env, groups: readonly SandboxEnvGroup[]): Set<string> {
  return new Set(groups.filter((g) => Object.entries(g.env).every(([k, v]) => merged[k] === v)).map((g) => g.name));
}
