/**
 * Contracts shared by every sandbox emulator. Each emulator is a real HTTP server on loopback,
 * faithful to the protocol of the system it stands in for, used by sandbox mode and by the tests.
 */
export interface SandboxServer {
  /** Base URL, e.g. http://127.0.0.1:43121 (no trailing slash). */
  readonly url: string;
  close(): Promise<void>;
}

/** How an emulator verifies the bearer tokens the BFF sends it (tokens exchanged for its audience). */
export interface TokenVerification {
  /** Exact `iss` the tokens must carry, e.g. http://127.0.0.1:4000/realms/platform */
  issuer: string;
  /** JWKS URL of that issuer. */
  jwksUri: string;
  /** The audience the emulator accepts, e.g. demo-trino-gw. */
  audience: string;
}

/** Failure modes the reliability tests inject into an emulator. */
export type FaultMode = 'none' | 'hang' | 'reset' | 'malformed' | 'error500';
