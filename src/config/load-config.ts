import { parseModelSettings } from './llm-model-settings';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { normalisePath } from './request-path';
import { mlflowPathClass, PUBLIC_PATH_METHODS } from './mlflow-paths';
import { MLFLOW_GRANTABLE, type AppConfig, type IssuerConfig, type MlflowPermissionLevel } from './app-config';
import { EnvSchema } from './env.schema';
import { readCaFile } from './ca-file';
import { valkeyTopology } from './valkey-topology';

export type Env = Record<string, string | undefined>;

/** One configuration problem: which key, which rule. Never the value. */
export interface ConfigProblem {
  key: string;
  rule: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` + problems.map((p) => `  - ${p.key}: ${p.rule}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Headers a gateway never sets to the original URI: naming one as AUTH_ORIGINAL_URI_HEADER is a configuration error. */
const NOT_AN_ORIGINAL_URI_HEADER: ReadonlySet<string> = new Set([
  'authorization',
  'cookie',
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'upgrade',
]);

const list = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

function schemaProblems(env: Env): { schema: EnvSchema; problems: ConfigProblem[] } {
  // Only keys the schema knows are read; empty strings count as unset.
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') raw[k] = v;
  const schema = plainToInstance(EnvSchema, raw, { excludeExtraneousValues: false });
  const errors: ValidationError[] = validateSync(schema, { skipMissingProperties: false, forbidUnknownValues: false });
  // One message per key: the first rule it breaks (each key's rules are written so that one says it all).
  const problems = errors.map((e) => {
    const msg = Object.values(e.constraints ?? {})[0] ?? 'is invalid';
    // class-validator messages start with the property name and never contain the value by default
    return { key: e.property, rule: msg.startsWith(e.property) ? msg.slice(e.property.length).trim() : msg };
  });
  return { schema, problems };
}

function parseExtraIssuers(raw: string | undefined, problems: ConfigProblem[]): IssuerConfig[] {
  if (!raw) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    problems.push({ key: 'AUTH_EXTRA_ISSUERS', rule: 'must be a JSON array of {issuer, jwksUri?}' });
    return [];
  }
  if (!Array.isArray(parsed)) {
    problems.push({ key: 'AUTH_EXTRA_ISSUERS', rule: 'must be a JSON array of {issuer, jwksUri?}' });
    return [];
  }
  const out: IssuerConfig[] = [];
  parsed.forEach((item: unknown, i) => {
    const where = `AUTH_EXTRA_ISSUERS[${i}]`;
    const o = item as { issuer?: unknown; jwksUri?: unknown };
    if (!o || typeof o.issuer !== 'string' || !/^https?:\/\/[^\s]+$/.test(o.issuer)) {
      problems.push({ key: where, rule: 'issuer must be an http(s) URL' });
      return;
    }
    if (o.jwksUri !== undefined && (typeof o.jwksUri !== 'string' || !/^https?:\/\/[^\s]+$/.test(o.jwksUri))) {
      problems.push({ key: where, rule: 'jwksUri must be an http(s) URL' });
      return;
    }
    const issuer = o.issuer.replace(/\/+$/, '');
    const isKeycloak = /\/realms\/[^/]+$/.test(issuer);
    out.push({
      issuer: o.issuer,
      kind: isKeycloak ? 'keycloak' : 'oidc',
      // Keycloak's certs endpoint by convention; other issuers must name theirs.
      jwksUri: (o.jwksUri as string | undefined) ?? (isKeycloak ? `${issuer}/protocol/openid-connect/certs` : undefined),
      algorithms: ['RS256', 'ES256'],
    });
    if (!out[out.length - 1].jwksUri) problems.push({ key: where, rule: 'jwksUri is required for a non-Keycloak issuer' });
  });
  return out;
}

/** MLFLOW_PUBLIC_PATHS: `METHOD /path` entries on normalised MLflow UI paths (never REST, artifacts or traces). */
function parseMlflowPublicPaths(raw: string | undefined, problems: ConfigProblem[]): string[] {
  const out: string[] = [];
  list(raw).forEach((entry, i) => {
    const where = `MLFLOW_PUBLIC_PATHS[${i}]`;
    const m = /^([A-Z]+) +(\/\S*)$/.exec(entry);
    if (!m || !(PUBLIC_PATH_METHODS as readonly string[]).includes(m[1])) {
      problems.push({ key: where, rule: `must be "METHOD /path" with METHOD one of ${PUBLIC_PATH_METHODS.join(', ')}` });
      return;
    }
    if (normalisePath(m[2]) !== m[2] || m[2].includes('?')) {
      problems.push({ key: where, rule: 'path must be normalised (no query, dot segments, repeated or trailing slashes, percent-encoding)' });
      return;
    }
    if (mlflowPathClass(m[2]) !== 'ui') {
      problems.push({ key: where, rule: 'only UI pages and probes may be public (REST, artifact and trace paths need experiment permissions)' });
      return;
    }
    out.push(`${m[1]} ${m[2]}`);
  });
  return out;
}

/** MLFLOW_GROUP_PERMISSIONS: JSON object, Keycloak group path or role name → READ | EDIT | MANAGE. */
function parseGroupPermissions(raw: string | undefined, problems: ConfigProblem[]): Map<string, MlflowPermissionLevel> {
  const out = new Map<string, MlflowPermissionLevel>();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push({ key: 'MLFLOW_GROUP_PERMISSIONS', rule: 'must be a JSON object of group or role → READ | EDIT | MANAGE' });
    return out;
  }
  Object.entries(parsed as Record<string, unknown>).forEach(([name, level], i) => {
    const where = `MLFLOW_GROUP_PERMISSIONS entry ${i + 1}`;
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    if (name.length === 0 || name.length > 255 || /[\u0000-\u001f\u007f]/.test(name)) {
      problems.push({ key: where, rule: 'the group or role name must be 1-255 printable characters' });
    } else if (typeof level !== 'string' || !(MLFLOW_GRANTABLE as readonly string[]).includes(level)) {
      problems.push({ key: where, rule: `the permission must be one of ${MLFLOW_GRANTABLE.join(', ')}` });
    } else out.set(name, level as MlflowPermissionLevel);
  });
  return out;
}

/**
 * Validates the environment and builds the typed configuration. Every problem is collected
 * and thrown at once as a ConfigError. `sandbox` fills the identity-provider keys from the
 * sandbox emulators (see sandbox/index.ts) and is refused in production.
 */
export function loadConfig(env: Env, opts: { sandbox?: boolean } = {}): AppConfig {
  const { schema: s, problems } = schemaProblems(env);
  const nodeEnv = (s.NODE_ENV ?? 'development') as AppConfig['env'];
  const sandbox = opts.sandbox === true;
  if (sandbox && nodeEnv === 'production') {
    problems.push({ key: 'KEYCLOAK_URL', rule: 'is required in production (sandbox mode is refused when NODE_ENV=production)' });
  }
  const audiences = list(s.AUTH_AUDIENCE ?? s.BFF_CLIENT_ID);
  if (audiences.includes('account')) {
    problems.push({ key: 'AUTH_AUDIENCE', rule: "must not contain 'account' (Keycloak puts it in every user token)" });
  }
  const originalUriHeader = s.AUTH_ORIGINAL_URI_HEADER === 'none' ? undefined : (s.AUTH_ORIGINAL_URI_HEADER ?? 'x-original-uri').toLowerCase();
  if (originalUriHeader !== undefined && NOT_AN_ORIGINAL_URI_HEADER.has(originalUriHeader)) {
    problems.push({ key: 'AUTH_ORIGINAL_URI_HEADER', rule: 'must name the header the gateway sets to the original URI, not a credential or transport header' });
  }
  if (s.TRINO_AUTH === 'exchange' && !s.KEYCLOAK_URL && !sandbox) {
    problems.push({ key: 'TRINO_AUTH', rule: 'exchange needs KEYCLOAK_URL' });
  }
  // Trino authenticates only over HTTPS: over http it ignores a bearer token (and trusts X-Trino-User) and refuses passwords.
  if ((s.TRINO_AUTH === 'exchange' || s.TRINO_AUTH === 'basic') && s.TRINO_URL && !/^https:/i.test(s.TRINO_URL)) {
    problems.push({
      key: 'TRINO_URL',
      rule: `must be an https URL with TRINO_AUTH=${s.TRINO_AUTH} (Trino authenticates only over HTTPS: over http it ignores a bearer token and trusts X-Trino-User, and refuses passwords); TRINO_AUTH over http must be none`,
    });
  }
  const trinoCa = readCaFile('TRINO_CA_FILE', s.TRINO_CA_FILE, problems);
  if (trinoCa && s.TRINO_URL && !/^https:/i.test(s.TRINO_URL)) {
    problems.push({ key: 'TRINO_CA_FILE', rule: 'is only used with an https TRINO_URL' });
  }
  const breakGlass = new Map<string, string>();
  for (const pair of list(s.BREAK_GLASS_USERS)) {
    const i = pair.indexOf(':');
    breakGlass.set(pair.slice(0, i), pair.slice(i + 1));
  }
  if (breakGlass.size > 0 && !s.TRINO_GATEWAY_BASIC_AUTH) {
    problems.push({ key: 'TRINO_GATEWAY_BASIC_AUTH', rule: 'is required when BREAK_GLASS_USERS is set' });
  }
  if (s.LLM_BASE_URL && !s.AGENT_MODELS) {
    problems.push({ key: 'AGENT_MODELS', rule: 'is required when LLM_BASE_URL is set (the ids of the models that provider serves)' });
  }
  const extraIssuers = parseExtraIssuers(s.AUTH_EXTRA_ISSUERS, problems);
  const modelSettings = parseModelSettings(s.LLM_MODEL_SETTINGS, problems);
  const mlflowPublicPaths = parseMlflowPublicPaths(s.MLFLOW_PUBLIC_PATHS, problems);
  const groupPermissions = parseGroupPermissions(s.MLFLOW_GROUP_PERMISSIONS, problems);
  const httpsPublicUrl = /^https:/i.test(s.PUBLIC_URL ?? '');
  if (s.BFF_SESSION_COOKIE && /^__(Host|Secure)-/.test(s.BFF_SESSION_COOKIE) && !httpsPublicUrl) {
    problems.push({ key: 'BFF_SESSION_COOKIE', rule: 'a __Host- or __Secure- name needs an https PUBLIC_URL' });
  }
  const valkey = valkeyTopology(s, problems);
  if (nodeEnv === 'production' && valkey && !s.BFF_SESSION_SECRET) {
    problems.push({ key: 'BFF_SESSION_SECRET', rule: 'is required in production when Valkey is configured (replicas share the sessions)' });
  }
  if (s.BFF_LOGIN_CLIENT_ID && !s.BFF_LOGIN_CLIENT_SECRET && s.BFF_LOGIN_CLIENT_ID !== s.BFF_CLIENT_ID) {
    problems.push({ key: 'BFF_LOGIN_CLIENT_SECRET', rule: 'is required when BFF_LOGIN_CLIENT_ID names another client than BFF_CLIENT_ID' });
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const kcUrl = (s.KEYCLOAK_URL ?? '').replace(/\/+$/, '');
  const realm = s.KEYCLOAK_REALM ?? 'platform';
  const realmIssuer = `${kcUrl}/realms/${realm}`;
  const issuers: IssuerConfig[] = [
    { issuer: realmIssuer, kind: 'keycloak', jwksUri: `${realmIssuer}/protocol/openid-connect/certs`, algorithms: ['RS256', 'ES256'] },
    ...extraIssuers,
  ];
  if (s.AUTH_JWT_SECRET) {
    issuers.push({ issuer: s.AUTH_JWT_SECRET_ISSUER as string, kind: 'hs256', secret: s.AUTH_JWT_SECRET, algorithms: ['HS256'] });
  }
  const duplicate = issuers.find((iss, i) => issuers.findIndex((o) => o.issuer === iss.issuer) !== i);
  if (duplicate) throw new ConfigError([{ key: 'AUTH_EXTRA_ISSUERS', rule: 'lists an issuer twice (or the Keycloak realm again)' }]);

  const trinoUrl = s.TRINO_URL?.replace(/\/+$/, '');
  return {
    env: nodeEnv,
    sandbox,
    port: s.PORT ?? 3000,
    // Sandbox mode answers demo tokens: loopback only, unless HOST says otherwise.
    host: s.HOST ?? (sandbox ? '127.0.0.1' : '0.0.0.0'),
    publicUrl: s.PUBLIC_URL?.replace(/\/+$/, ''),
    trustProxy: s.TRUST_PROXY ?? false,
    logLevel: s.LOG_LEVEL ?? 'info',
    corsOrigins: list(s.CORS_ORIGINS),
    rateLimit: { perMinute: s.RATE_LIMIT_PER_MINUTE ?? 300 },
    keycloak: {
      url: kcUrl,
      realm,
      issuer: realmIssuer,
      tokenEndpoint: `${realmIssuer}/protocol/openid-connect/token`,
      jwksUri: `${realmIssuer}/protocol/openid-connect/certs`,
    },
    clientId: s.BFF_CLIENT_ID ?? 'platform-bff',
    clientSecret: s.BFF_CLIENT_SECRET ?? '',
    workspaceId: s.WORKSPACE_ID ?? 'default',
    auth: { audiences, issuers, clockSkewS: s.AUTH_CLOCK_SKEW_S ?? 30, originalUriHeader },
    valkeyUrl: s.VALKEY_URL,
    valkey,
    valkeyCommandTimeoutMs: s.VALKEY_COMMAND_TIMEOUT_MS ?? 500,
    revocation: {
      backchannelClients: s.BACKCHANNEL_LOGOUT_CLIENTS
        ? list(s.BACKCHANNEL_LOGOUT_CLIENTS)
        : ['platform-frontend', s.BFF_LOGIN_CLIENT_ID ?? s.BFF_CLIENT_ID ?? 'platform-bff'],
      ttlS: s.REVOCATION_TTL_S ?? 3600,
    },
    tokenExchange: { cacheTtlS: s.TOKEN_EXCHANGE_CACHE_TTL ?? 180, timeoutMs: s.TOKEN_EXCHANGE_TIMEOUT_MS ?? 3000 },
    trino: {
      url: trinoUrl,
      userClaim: s.TRINO_USER_CLAIM ?? 'preferred_username',
      auth: (s.TRINO_AUTH ?? 'none') as AppConfig['trino']['auth'],
      audience: s.TRINO_AUDIENCE ?? 'trino',
      basicAuth: s.TRINO_BASIC_AUTH,
      timeoutMs: s.TRINO_TIMEOUT_MS ?? 30000,
      uiUrl: s.TRINO_UI_URL?.replace(/\/+$/, ''),
      ca: trinoCa,
    },
    trinoGateway: {
      url: (s.TRINO_GATEWAY_URL ?? trinoUrl)?.replace(/\/+$/, ''),
      audience: s.TRINO_GATEWAY_AUDIENCE ?? 'trino-gw',
      basicAuth: s.TRINO_GATEWAY_BASIC_AUTH,
      breakGlassUsers: breakGlass,
      timeoutMs: s.TRINO_GATEWAY_TIMEOUT_MS ?? 10000,
    },
    mlAgent: {
      url: s.ML_AGENT_URL?.replace(/\/+$/, ''),
      audience: s.ML_AGENT_AUDIENCE ?? 'ml-agent',
      tokenMode: (s.ML_AGENT_TOKEN_MODE ?? 'exchange') as AppConfig['mlAgent']['tokenMode'],
      timeoutMs: s.ML_AGENT_TIMEOUT_MS ?? 30000,
    },
    llm: {
      baseUrl: s.LLM_BASE_URL?.replace(/\/+$/, ''),
      apiKey: s.LLM_API_KEY,
      // Without a provider, the sandbox LLM emulator's models (sandbox mode sets them itself); with one, AGENT_MODELS is required.
      models: list(s.AGENT_MODELS ?? 'sandbox-chat,sandbox-chat-mini'),
      timeoutMs: s.LLM_TIMEOUT_MS ?? 30000,
      modelSettings,
    },
    agents: { wsAllowedOrigins: list(s.WS_ALLOWED_ORIGINS), tokenQuota: s.AGENT_TOKEN_QUOTA ?? 100000, heartbeatMs: s.AGENT_WS_HEARTBEAT_MS ?? 30000 },
    mlflow: {
      url: s.MLFLOW_URL?.replace(/\/+$/, ''),
      publicPaths: mlflowPublicPaths,
      traceClients: list(s.MLFLOW_TRACE_CLIENTS),
      groupPermissions,
    },
    session: {
      cookieName: s.BFF_SESSION_COOKIE ?? (httpsPublicUrl ? '__Host-bff_session' : 'bff_session'),
      secure: httpsPublicUrl,
      secret: s.BFF_SESSION_SECRET,
      loginClientId: s.BFF_LOGIN_CLIENT_ID ?? s.BFF_CLIENT_ID ?? 'platform-bff',
      loginClientSecret: s.BFF_LOGIN_CLIENT_SECRET ?? s.BFF_CLIENT_SECRET ?? '',
      login: { ratePerMinute: s.LOGIN_RATE_PER_MINUTE ?? 30, pendingMax: s.LOGIN_PENDING_MAX ?? 10000, pendingPerClient: s.LOGIN_PENDING_PER_CLIENT ?? 30 },
    },
  };
}
