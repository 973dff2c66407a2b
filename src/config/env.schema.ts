import { Transform } from 'class-transformer';
import { IsOptional, IsString, IsUrl, Matches, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { IntRange, OneOf } from './env-rules';

/**
 * Every environment key the BFF reads, with its constraint. Validated once at boot
 * (see validate-env.ts); the error list names the key and the rule, never the value.
 * Keys listed in SECRET_KEYS are masked wherever configuration is printed.
 */
const toInt = ({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : /^-?\d+$/.test(String(value)) ? Number(value) : value);
const toBool = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '') return undefined;
  const v = String(value).toLowerCase();
  return v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : value;
};
const URL_OPTS = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

export const SECRET_KEYS = [
  'BFF_CLIENT_SECRET',
  'AUTH_JWT_SECRET',
  'LLM_API_KEY',
  'TRINO_GATEWAY_BASIC_AUTH',
  'TRINO_BASIC_AUTH',
  'BREAK_GLASS_USERS',
  'VALKEY_URL',
  'VALKEY_PASSWORD',
  'VALKEY_SENTINEL_PASSWORD',
  'BFF_LOGIN_CLIENT_SECRET',
  'BFF_SESSION_SECRET',
] as const;

export class EnvSchema {
  @IsOptional()
  @OneOf(['development', 'production', 'test'])
  NODE_ENV?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(0, 65535)
  PORT?: number;

  @IsOptional()
  @IsString()
  HOST?: string;

  @IsOptional()
  @IsUrl(URL_OPTS)
  PUBLIC_URL?: string;

  @Transform(toBool)
  @IsOptional()
  @OneOf([true, false], { message: 'must be one of: true, false, 1, 0' })
  TRUST_PROXY?: boolean;

  @IsOptional()
  @OneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL?: string;

  @IsOptional()
  @IsString()
  CORS_ORIGINS?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(0, 1000000)
  RATE_LIMIT_PER_MINUTE?: number;

  // --- identity provider ---
  @ValidateIf((e: EnvSchema) => e.NODE_ENV === 'production' || e.KEYCLOAK_URL !== undefined)
  @IsUrl(URL_OPTS)
  KEYCLOAK_URL?: string;

  @ValidateIf((e: EnvSchema) => e.KEYCLOAK_URL !== undefined)
  @Matches(/^[A-Za-z0-9._-]{1,100}$/, { message: 'KEYCLOAK_REALM must be a realm name ([A-Za-z0-9._-])' })
  KEYCLOAK_REALM?: string;

  @ValidateIf((e: EnvSchema) => e.KEYCLOAK_URL !== undefined)
  @Matches(/^[A-Za-z0-9._:-]{1,255}$/, { message: 'BFF_CLIENT_ID must be a client id ([A-Za-z0-9._:-])' })
  BFF_CLIENT_ID?: string;

  @ValidateIf((e: EnvSchema) => e.KEYCLOAK_URL !== undefined)
  @IsString({ message: 'is required when KEYCLOAK_URL is set' })
  BFF_CLIENT_SECRET?: string;

  @IsOptional()
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'WORKSPACE_ID must be lowercase letters, digits and dashes' })
  WORKSPACE_ID?: string;

  @IsOptional()
  @Matches(/^[^,\s]+(,[^,\s]+)*$/, { message: 'AUTH_AUDIENCE must be a comma-separated list without spaces' })
  AUTH_AUDIENCE?: string;

  @IsOptional()
  @IsString()
  AUTH_EXTRA_ISSUERS?: string;

  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'AUTH_JWT_SECRET must be at least 32 characters (HS256 needs 256 bits)' })
  AUTH_JWT_SECRET?: string;

  @ValidateIf((e: EnvSchema) => e.AUTH_JWT_SECRET !== undefined)
  @IsString()
  @MinLength(1, { message: 'AUTH_JWT_SECRET_ISSUER is required when AUTH_JWT_SECRET is set' })
  AUTH_JWT_SECRET_ISSUER?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(0, 300)
  AUTH_CLOCK_SKEW_S?: number;

  @IsOptional()
  @Matches(/^([A-Za-z0-9][A-Za-z0-9-]{0,63}|none)$/, { message: 'AUTH_ORIGINAL_URI_HEADER must be a header name (letters, digits and dashes) or none' })
  AUTH_ORIGINAL_URI_HEADER?: string;

  // --- cache / token exchange ---
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['redis', 'rediss'] })
  VALKEY_URL?: string;

  // host:port lists, checked with the topology rules in valkey-topology.ts
  @IsOptional()
  @IsString()
  VALKEY_SENTINELS?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]{1,64}$/, { message: 'VALKEY_SENTINEL_MASTER must be a name of letters, digits, dots, dashes and underscores' })
  VALKEY_SENTINEL_MASTER?: string;

  @IsOptional()
  @IsString()
  VALKEY_CLUSTER_NODES?: string;

  @IsOptional()
  @Matches(/^\S{1,128}$/, { message: 'VALKEY_USERNAME must be an ACL user name (no spaces, at most 128 characters)' })
  VALKEY_USERNAME?: string;

  @IsOptional()
  @IsString()
  VALKEY_PASSWORD?: string;

  @IsOptional()
  @Matches(/^\S{1,128}$/, { message: 'VALKEY_SENTINEL_USERNAME must be an ACL user name (no spaces, at most 128 characters)' })
  VALKEY_SENTINEL_USERNAME?: string;

  @IsOptional()
  @IsString()
  VALKEY_SENTINEL_PASSWORD?: string;

  @Transform(toBool)
  @IsOptional()
  @OneOf([true, false], { message: 'must be one of: true, false, 1, 0' })
  VALKEY_TLS?: boolean;

  // read and checked with the topology rules in valkey-topology.ts
  @IsOptional()
  @IsString()
  VALKEY_CA_FILE?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(50, 60000)
  VALKEY_COMMAND_TIMEOUT_MS?: number;

  @Transform(toInt)
  @IsOptional()
  @IntRange(1, 3600)
  TOKEN_EXCHANGE_CACHE_TTL?: number;

  @Transform(toInt)
  @IsOptional()
  @IntRange(100, 60000)
  TOKEN_EXCHANGE_TIMEOUT_MS?: number;

  // --- logout and revocation ---
  @IsOptional()
  @Matches(/^[A-Za-z0-9._:-]{1,255}(,[A-Za-z0-9._:-]{1,255})*$/, {
    message: 'BACKCHANNEL_LOGOUT_CLIENTS must be a comma-separated list of client ids',
  })
  BACKCHANNEL_LOGOUT_CLIENTS?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(60, 86400)
  REVOCATION_TTL_S?: number;

  // --- Trino ---
  @IsOptional()
  @IsUrl(URL_OPTS)
  TRINO_URL?: string;

  @IsOptional()
  @Matches(/^[A-Za-z_][A-Za-z0-9_.-]{0,100}$/, { message: 'TRINO_USER_CLAIM must be a claim name' })
  TRINO_USER_CLAIM?: string;

  @IsOptional()
  @OneOf(['none', 'exchange', 'basic'])
  TRINO_AUTH?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]{1,100}$/)
  TRINO_AUDIENCE?: string;

  @ValidateIf((e: EnvSchema) => e.TRINO_AUTH === 'basic')
  @Matches(/^[^:\s]+:.+$/, { message: 'TRINO_BASIC_AUTH must be user:password when TRINO_AUTH=basic' })
  TRINO_BASIC_AUTH?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(100, 600000)
  TRINO_TIMEOUT_MS?: number;

  @IsOptional()
  @IsString()
  @MinLength(1)
  TRINO_CA_FILE?: string;

  @IsOptional()
  @IsUrl(URL_OPTS)
  @Matches(/^[^?#]*$/, { message: 'TRINO_UI_URL must be a base URL without query or fragment' })
  TRINO_UI_URL?: string;

  @IsOptional()
  @IsUrl(URL_OPTS)
  TRINO_GATEWAY_URL?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]{1,100}$/)
  TRINO_GATEWAY_AUDIENCE?: string;

  @IsOptional()
  @Matches(/^[^:\s]+:.+$/, { message: 'TRINO_GATEWAY_BASIC_AUTH must be user:password' })
  TRINO_GATEWAY_BASIC_AUTH?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(100, 600000)
  TRINO_GATEWAY_TIMEOUT_MS?: number;

  @IsOptional()
  @Matches(/^[^:,\s]+:\$?scrypt\$[^,\s]+(,[^:,\s]+:\$?scrypt\$[^,\s]+)*$/, {
    message: 'BREAK_GLASS_USERS must be a comma list of user:scrypt$... hashes',
  })
  BREAK_GLASS_USERS?: string;

  // --- ML-Agent / agents / LLM ---
  @IsOptional()
  @IsUrl(URL_OPTS)
  ML_AGENT_URL?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]{1,100}$/)
  ML_AGENT_AUDIENCE?: string;

  @IsOptional()
  @OneOf(['exchange', 'forward'])
  ML_AGENT_TOKEN_MODE?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(100, 600000)
  ML_AGENT_TIMEOUT_MS?: number;

  @IsOptional()
  @IsUrl(URL_OPTS)
  LLM_BASE_URL?: string;

  @IsOptional()
  @IsString()
  LLM_API_KEY?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(100, 600000)
  LLM_TIMEOUT_MS?: number;

  @IsOptional()
  @Matches(/^[^,\s]+(,[^,\s]+)*$/, { message: 'AGENT_MODELS must be a comma-separated list of model ids' })
  AGENT_MODELS?: string;

  /** Per-model request settings, JSON (see llm-model-settings.ts); validated in loadConfig. */
  @IsOptional()
  @IsString()
  LLM_MODEL_SETTINGS?: string;

  @IsOptional()
  @IsString()
  WS_ALLOWED_ORIGINS?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(0)
  AGENT_TOKEN_QUOTA?: number;

  @Transform(toInt)
  @IsOptional()
  @IntRange(1000, 600000)
  AGENT_WS_HEARTBEAT_MS?: number;

  // --- MLflow ---
  @IsOptional()
  @IsUrl(URL_OPTS)
  MLFLOW_URL?: string;

  @IsOptional()
  @IsString()
  @MaxLength(100000)
  MLFLOW_PUBLIC_PATHS?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9._:-]{1,255}(,[A-Za-z0-9._:-]{1,255})*$/, {
    message: 'MLFLOW_TRACE_CLIENTS must be a comma-separated list of client ids',
  })
  MLFLOW_TRACE_CLIENTS?: string;

  @IsOptional()
  @IsString()
  @MaxLength(100000)
  MLFLOW_GROUP_PERMISSIONS?: string;

  // --- browser login (OIDC authorization code + PKCE) and its sessions ---
  @IsOptional()
  @Matches(/^[A-Za-z0-9._:-]{1,255}$/, { message: 'BFF_LOGIN_CLIENT_ID must be a client id ([A-Za-z0-9._:-])' })
  BFF_LOGIN_CLIENT_ID?: string;

  @IsOptional()
  @IsString()
  BFF_LOGIN_CLIENT_SECRET?: string;

  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'BFF_SESSION_SECRET must be at least 32 characters' })
  BFF_SESSION_SECRET?: string;

  @IsOptional()
  @Matches(/^(__Host-|__Secure-)?[A-Za-z0-9_.-]{1,64}$/, {
    message: 'BFF_SESSION_COOKIE must be a cookie name ([A-Za-z0-9_.-], optional __Host- or __Secure- prefix)',
  })
  BFF_SESSION_COOKIE?: string;

  @Transform(toInt)
  @IsOptional()
  @IntRange(0, 1000000)
  LOGIN_RATE_PER_MINUTE?: number;

  @Transform(toInt)
  @IsOptional()
  @IntRange(1, 1000000)
  LOGIN_PENDING_MAX?: number;

  @Transform(toInt)
  @IsOptional()
  @IntRange(1, 100000)
  LOGIN_PENDING_PER_CLIENT?: number;
}
