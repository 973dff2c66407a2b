import type { LlmModelSettingsOverrides } from './llm-model-settings';
import type { ValkeyTopology } from './valkey-topology';
/** The validated, typed configuration the application runs on. Built once by loadConfig(). */
export interface IssuerConfig {
  /** Exact `iss` value. */
  issuer: string;
  kind: 'keycloak' | 'oidc' | 'hs256';
  /** Asymmetric issuers: where the signing keys are. */
  jwksUri?: string;
  /** HS256 issuer only. */
  secret?: string;
  algorithms: string[];
}

export interface AppConfig {
  env: 'development' | 'production' | 'test';
  sandbox: boolean;
  port: number;
  host: string;
  publicUrl?: string;
  trustProxy: boolean;
  logLevel: string;
  corsOrigins: string[];
  /** Per-user calls per minute on each expensive route (0 = no limit). */
  rateLimit: { perMinute: number };
  keycloak: { url: string; realm: string; issuer: string; tokenEndpoint: string; jwksUri: string };
  clientId: string;
  clientSecret: string;
  workspaceId: string;
  auth: {
    audiences: string[];
    issuers: IssuerConfig[];
    clockSkewS: number;
    /**
     * The one header /api/auth takes the original URI from (lowercase), as the configured gateway sets
     * it (nginx auth_request: X-Original-URI from $request_uri); undefined (`none`): the path suffix only (Envoy).
     */
    originalUriHeader?: string;
  };
  /** VALKEY_URL: the single-server topology (also in `valkey`). */
  valkeyUrl?: string;
  /** How Valkey is reached (one server, Sentinel or a cluster); undefined: state in memory. */
  valkey?: ValkeyTopology;
  /** VALKEY_COMMAND_TIMEOUT_MS: a Valkey command not answered within it is an outage (state served from memory). */
  valkeyCommandTimeoutMs: number;
  tokenExchange: { cacheTtlS: number; timeoutMs: number };
  /** OIDC back-channel logout and the revocations it records. */
  revocation: {
    /** Client ids (the logout token's aud) whose back-channel logout URL is this BFF's /auth/backchannel-logout. */
    backchannelClients: string[];
    /** How long a revocation is kept: at least the longest access-token lifetime of the realm. */
    ttlS: number;
  };
  trino: {
    url?: string;
    userClaim: string;
    auth: 'none' | 'exchange' | 'basic';
    audience: string;
    basicAuth?: string;
    timeoutMs: number;
    /** Public base URL of the Trino web UI, where GET /ui/query.html (a query's infoUri) redirects. */
    uiUrl?: string;
    /** PEM CA certificates trusted for an https TRINO_URL beside the system's (TRINO_CA_FILE). */
    ca?: string;
  };
  trinoGateway: { url?: string; audience: string; basicAuth?: string; breakGlassUsers: Map<string, string>; timeoutMs: number };
  mlAgent: { url?: string; audience: string; tokenMode: 'exchange' | 'forward'; timeoutMs: number };
  llm: {
    baseUrl?: string;
    apiKey?: string;
    models: string[];
    /** Longest wait for the provider's response headers, and between two streamed events (a model's idleTimeoutMs overrides it). */
    timeoutMs: number;
    /** LLM_MODEL_SETTINGS: per model id or family (`o3*`); see modelSettingsFor. */
    modelSettings: LlmModelSettingsOverrides;
  };
  agents: {
    wsAllowedOrigins: string[];
    tokenQuota: number;
    /** Every open session is pinged once per period; one that has not answered the previous ping is cut. */
    heartbeatMs: number;
  };
  mlflow: {
    url?: string;
    /** `METHOD /path` entries (normalised MLflow paths) served without authentication. */
    publicPaths: string[];
    /** Client ids (azp) of the service accounts that may send OTLP traces. */
    traceClients: string[];
    /** Default experiment permission per Keycloak group path or role. */
    groupPermissions: ReadonlyMap<string, MlflowPermissionLevel>;
  };
  /** The browser login (OIDC authorization code + PKCE) and its server-side sessions. */
  session: {
    cookieName: string;
    /** Secure cookies (PUBLIC_URL is https). */
    secure: boolean;
    /** Key material sealing sessions at rest; unset: a random key per process. */
    secret?: string;
    loginClientId: string;
    loginClientSecret: string;
    /** Bounds of GET /auth/login, which anyone may call. */
    login: {
      /** Calls per minute per client address (0: no limit). */
      ratePerMinute: number;
      /** Logins in flight at most, in all and per client address. */
      pendingMax: number;
      pendingPerClient: number;
    };
  };
}

/** Experiment permissions, weakest first (MLflow's names). */
export const MLFLOW_PERMISSION_LEVELS = ['NO_PERMISSIONS', 'READ', 'EDIT', 'MANAGE'] as const;
export type MlflowPermissionLevel = (typeof MLFLOW_PERMISSION_LEVELS)[number];
/** What a group default or a per-experiment grant may give. */
export const MLFLOW_GRANTABLE = ['READ', 'EDIT', 'MANAGE'] as const;

export const APP_CONFIG = Symbol('APP_CONFIG');
