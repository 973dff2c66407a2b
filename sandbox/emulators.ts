import type { SandboxServer } from './types';

/** What every sandbox emulator gets: the issuer to verify exchanged tokens against, and the env built so far. */
export interface EmulatorContext {
  issuer: string;
  jwksUri: string;
  workspaceId: string;
  /** Environment assembled so far (earlier emulators' URLs, e.g. TRINO_URL for the ML-Agent). */
  env: Record<string, string>;
}

export interface Emulator {
  name: string;
  /** Starts the emulator; returns it with the env keys that point the BFF at it. */
  start(ctx: EmulatorContext): Promise<{ server: SandboxServer; env: Record<string, string> }>;
}

/**
 * The upstream emulators sandbox mode starts, in order. Plugging one in is one entry here.
 * (The OIDC issuer is not in this list: everything else depends on it, see index.ts.)
 */
export const EMULATORS: Emulator[] = [];
