import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const SRC = join(__dirname, '../../src');
/** The one identity chain: credential loaders → verify → revocation → policy (src/auth/credentials.ts feeds it). */
const CHAIN = 'src/auth/access-decider.service.ts';

/**
 * Who the caller is, is worked out in one place (issue 19): only the chain verifies a token, checks a
 * revocation, reads the token of a request, redeems a ws-ticket, loads a browser session or hands
 * HTTP Basic to break-glass. Each other file allowed to name one of these says why.
 */
const CHAIN_ONLY: ReadonlyArray<{ what: string; pattern: RegExp; allowed: Record<string, string> }> = [
  {
    what: 'verifies tokens (TokenVerifier)',
    pattern: /\bTokenVerifier\b/,
    allowed: {
      [CHAIN]: 'the chain',
      'src/auth/token-verifier.service.ts': 'defines it',
      'src/auth/auth.module.ts': 'provides it; the realm keys are a readiness check',
      'src/auth/logout-token.ts': 'back-channel logout tokens are checked with the realm keys: a request of the realm, not a caller',
      'src/sandbox-demo.ts': 'a developer script that prints the principal of a demo token',
    },
  },
  {
    what: 'checks a revocation',
    pattern: /\.isRevoked(?:Now)?\(/,
    allowed: { [CHAIN]: 'the chain (and revokedSince for long-lived sessions)', 'src/auth/revocation.service.ts': 'defines it' },
  },
  {
    what: 'reads the token of a request',
    pattern: /\bextractToken\(/,
    allowed: { 'src/auth/credentials.ts': 'the credential loader of the chain', 'src/auth/token-source.ts': 'defines it' },
  },
  { what: 'redeems or checks a ws-ticket', pattern: /\btickets\.(?:redeem|check)\(|\.redeem\(/, allowed: { [CHAIN]: 'the ws-ticket loader' } },
  { what: 'loads a browser session’s token', pattern: /\bsessions?\.access(?:Token)?\(/, allowed: { [CHAIN]: 'the session loader' } },
  {
    what: 'hands HTTP Basic to break-glass',
    pattern: /\.authenticate\(/,
    allowed: { [CHAIN]: 'the break-glass loader', 'src/auth/token-verifier.service.ts': 'passport-jwt’s strategy, run by the verifier (a bearer token, not Basic)' },
  },
];

/** Every entrance hands the request to the chain (decide, or allowedNow on the fast path). */
const ENTRANCES = [
  'src/auth/auth.guard.ts',
  'src/auth/ext-authz.controller.ts',
  'src/auth/hot-routes.ts',
  'src/agent-service/agent.gateway.ts',
  'src/mlflow/mlflow-proxy.service.ts',
];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [join(dir, e.name)] : [],
  );
}

const sources = new Map(files(SRC).map((f) => [`src/${relative(SRC, f)}`, readFileSync(f, 'utf8')]));

describe('one identity chain (issue 19 item 1)', () => {
  it.each(CHAIN_ONLY.map((r) => [r.what, r] as const))('only the chain %s (each other file says why it may)', (_, rule) => {
    const found = [...sources].filter(([, text]) => rule.pattern.test(text)).map(([f]) => f);
    expect(found.sort()).toEqual(Object.keys(rule.allowed).sort());
  });

  it('every entrance calls the chain', () => {
    for (const f of ENTRANCES) expect([f, /\.(?:decide|allowedNow)\(/.test(sources.get(f) ?? '')]).toEqual([f, true]);
  });
});
