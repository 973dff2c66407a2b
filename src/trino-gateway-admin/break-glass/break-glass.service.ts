import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { AuditLog } from '../../audit/audit-log.service';
import type { BreakGlassAuthenticator } from '../../auth/decorators';
import { MetricsService } from '../../common/metrics.service';
import { ProblemException } from '../../common/problem';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { setBreakGlassContext } from '../../auth/break-glass-context';
import { IdentityProviderProbe } from './identity-provider-probe';
import { SCRYPT_DEFAULTS, parseScryptHash, verifyScryptHash, type ScryptHash } from './password-hash';

/** scrypt checks running at once (each takes ~32 MiB and a thread-pool thread for ~150 ms). */
const MAX_CONCURRENT_CHECKS = 2;
const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const BEARER_CHALLENGE = { 'www-authenticate': 'Bearer realm="platform-bff"' };

/**
 * Break-glass for the Trino Gateway admin routes (README: Routes): off unless BREAK_GLASS_USERS is set;
 * then `Authorization: Basic` is accepted on the routes marked @AllowBreakGlass — and only while
 * Keycloak is unreachable (IdentityProviderProbe). The order of checks keeps the passwords from
 * being guessable while Keycloak is up: the probe comes before any password check. Every accepted
 * request is an audit event at level alert and counts in bff_break_glass_total{outcome="allowed"};
 * refused attempts are audited and counted too. The gateway is then called with
 * TRINO_GATEWAY_BASIC_AUTH, never silently: only through this path.
 */
@Injectable()
export class BreakGlassService implements BreakGlassAuthenticator, OnModuleInit {
  private readonly log = new Logger('BreakGlass');
  private readonly users = new Map<string, ScryptHash>();
  private readonly uses: Counter<'outcome'>;
  private dummy?: ScryptHash;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly probe: IdentityProviderProbe,
    private readonly audit: AuditLog,
    metrics: MetricsService,
  ) {
    this.uses = metrics.counter('bff_break_glass_total', 'Break-glass (HTTP Basic) requests by outcome: allowed, bad_credentials, idp_reachable', ['outcome']);
  }

  /** Refuses to boot with a malformed hash (the message names the user, never the hash). */
  onModuleInit(): void {
    const bad: string[] = [];
    for (const [user, hash] of this.config.trinoGateway.breakGlassUsers) {
      const parsed = parseScryptHash(hash);
      if (!parsed || !USER_NAME.test(user)) bad.push(user);
      else this.users.set(user, parsed);
    }
    if (bad.length > 0) {
      throw new Error(`BREAK_GLASS_USERS: not a valid user:scrypt$N$r$p$salt$key entry for user(s) ${bad.map((u) => JSON.stringify(u.slice(0, 64))).join(', ')}`);
    }
    if (this.users.size > 0) {
      this.log.warn(
        { event: 'break_glass.enabled', users: [...this.users.keys()] },
        'Break-glass is enabled for the Trino Gateway admin routes (HTTP Basic, only while Keycloak is unreachable)',
      );
      const first = [...this.users.values()][0];
      // Unknown users are checked against this, so they cost the same time as known ones.
      this.dummy = { ...first, key: Buffer.alloc(first.key.length) };
    }
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  async authenticate(req: FastifyRequest, scope: string, route: string): Promise<void> {
    const requestId = String(req.id);
    const target = `${req.method} ${route}`;
    if (!this.enabled) {
      // Off: Basic is not a credential here, exactly as on any other route.
      throw new ProblemException(401, 'token_missing', 'a bearer token is required', undefined, BEARER_CHALLENGE);
    }
    const credentials = parseBasic(req.headers.authorization);
    if (!credentials) throw new ProblemException(401, 'token_invalid', 'malformed HTTP Basic credentials', undefined, BEARER_CHALLENGE);
    const actor = { via: 'break-glass' as const, username: USER_NAME.test(credentials.user) ? credentials.user : '(invalid user name)' };

    if (await this.probe.reachable()) {
      this.uses.inc({ outcome: 'idp_reachable' });
      this.audit.record({ action: 'break-glass.authenticate', actor, target, outcome: 'denied', reason: 'identity_provider_reachable', requestId, level: 'warn' });
      throw new ProblemException(
        401,
        'token_missing',
        'HTTP Basic is accepted here only while the identity provider is unreachable: use a bearer token',
        undefined,
        BEARER_CHALLENGE,
      );
    }

    const stored = this.users.get(credentials.user);
    const ok = await this.limited(() => verifyScryptHash(credentials.password, stored ?? this.dummy ?? fallbackHash()));
    if (!ok || !stored) {
      this.uses.inc({ outcome: 'bad_credentials' });
      this.audit.record({ action: 'break-glass.authenticate', actor, target, outcome: 'denied', reason: 'bad_credentials', requestId, level: 'alert' });
      throw new ProblemException(401, 'token_invalid', 'break-glass credentials rejected', undefined, BEARER_CHALLENGE);
    }
    this.uses.inc({ outcome: 'allowed' });
    this.audit.record({ action: 'break-glass.authenticate', actor, target, outcome: 'success', requestId, level: 'alert' });
    setBreakGlassContext(req, { user: credentials.user, scope });
  }

  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    // A finishing check hands its slot straight to the next waiter.
    if (this.running >= MAX_CONCURRENT_CHECKS) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

function parseBasic(header: string | string[] | undefined): { user: string; password: string } | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(value ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function fallbackHash(): ScryptHash {
  return { N: SCRYPT_DEFAULTS.N, r: SCRYPT_DEFAULTS.r, p: SCRYPT_DEFAULTS.p, salt: Buffer.alloc(16), key: Buffer.alloc(32) };
}
