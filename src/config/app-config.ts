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
  keycloak: { url: string; realm: string; issuer: string; tokenEndpoint: string; jwksUri: string };
  clientId: string;
  clientSecret: string;
  workspaceId: string;
  auth: {
    audiences: string[];
    issuers: IssuerConfig[];
    clockSkewS: number;
  };
  valkeyUrl?: string;
  tokenExchange: { cacheTtlS: number; timeoutMs: number };
  trino: {
    url?: string;
    userClaim: string;
    auth: 'none' | 'exchange' | 'basic';
    audience: string;
    basicAuth?: string;
    timeoutMs: number;
  };
  trinoGateway: { url?: string; audience: string; basicAuth?: string; breakGlassUsers: Map<string, string> };
  mlAgent: { url?: string; audience: string; tokenMode: 'exchange' | 'forward' };
  llm: { baseUrl?: string; apiKey?: string; models: string[] };
  agents: { wsAllowedOrigins: string[]; tokenQuota: number };
  mlflow: { url?: string; publicPaths: string[] };
}

export const APP_CONFIG = Symbol('APP_CONFIG');
