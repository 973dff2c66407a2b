/** A query's session as the coordinator reads it from the client's X-Trino-* headers, and the headers it answers with. */
import type * as http from 'node:http';
import type { Effects } from './query-record';

export interface SessionInfo {
  user: string;
  principal: string;
  originalUser?: string;
  source?: string;
  catalog?: string;
  schema?: string;
  path?: string;
  timeZone?: string;
  language?: string;
  traceToken?: string;
  clientInfo?: string;
  clientTags: string[];
  clientCapabilities: string[];
  resourceEstimates: Record<string, string>;
  systemProperties: Record<string, string>;
  catalogProperties: Record<string, Record<string, string>>;
  preparedStatements: Record<string, string>;
  roles: Record<string, string>;
  extraCredentialNames: string[];
  transactionId?: string;
  /** The client sent X-Trino-Transaction-Id (NONE or an id): it supports transactions. */
  clientTransactionSupport: boolean;
  remoteUserAddress?: string;
  userAgent?: string;
}

export const KNOWN_SESSION_PROPERTIES: Array<{ name: string; def: string; type: string; description: string }> = [
  { name: 'join_distribution_type', def: 'AUTOMATIC', type: 'varchar', description: 'Join distribution type. Possible values: [BROADCAST, PARTITIONED, AUTOMATIC]' },
  { name: 'query_max_execution_time', def: '100.00d', type: 'varchar', description: 'Maximum execution time of a query' },
  { name: 'query_max_run_time', def: '100.00d', type: 'varchar', description: 'Maximum run time of a query (includes the queueing time)' },
  { name: 'query_priority', def: '1', type: 'integer', description: 'The priority of queries. Larger numbers are higher priority' },
  { name: 'spill_enabled', def: 'false', type: 'boolean', description: 'Enable spilling' },
];

export class BadRequest extends Error {}

/** java.net.URLEncoder (UTF-8): space → '+', keeps alphanumerics and `.-*_`. */
export function javaUrlEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

export function javaUrlDecode(s: string, header: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new BadRequest(`Invalid ${header} header`);
  }
}

export function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  const s = Array.isArray(v) ? v.join(',') : v;
  if (s === undefined) return undefined;
  const t = s.trim();
  return t === '' ? undefined : t;
}

export function parseNameValueList(value: string | undefined, header: string, decode: boolean): Array<[string, string]> {
  if (value === undefined) return [];
  const out: Array<[string, string]> = [];
  for (const part of value.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new BadRequest(`Invalid ${header} header`);
    const name = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1).trim();
    out.push([name, decode ? javaUrlDecode(raw, header) : raw]);
  }
  return out;
}

export function effectHeaders(e: Effects): Record<string, string> {
  const h: Record<string, string> = {};
  if (e.setCatalog !== undefined) h['X-Trino-Set-Catalog'] = e.setCatalog;
  if (e.setSchema !== undefined) h['X-Trino-Set-Schema'] = e.setSchema;
  if (e.setSession) h['X-Trino-Set-Session'] = `${e.setSession[0]}=${javaUrlEncode(e.setSession[1])}`;
  if (e.clearSession !== undefined) h['X-Trino-Clear-Session'] = e.clearSession;
  if (e.addedPrepare) h['X-Trino-Added-Prepare'] = `${javaUrlEncode(e.addedPrepare[0])}=${javaUrlEncode(e.addedPrepare[1])}`;
  if (e.deallocatedPrepare !== undefined) h['X-Trino-Deallocated-Prepare'] = javaUrlEncode(e.deallocatedPrepare);
  if (e.startedTransactionId !== undefined) h['X-Trino-Started-Transaction-Id'] = e.startedTransactionId;
  if (e.clearTransactionId) h['X-Trino-Clear-Transaction-Id'] = 'true';
  return h;
}

/** Trino text form of a timestamp(3) with time zone; the sandbox always answers in UTC. */
export function formatTimestamp(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)} UTC`;
}

/** The session of a statement: the authenticated user and principal, and the client's X-Trino-* headers. */
export function sessionFrom(req: http.IncomingMessage, auth: { principal: string; user: string }): SessionInfo {
  const catalog = headerValue(req, 'x-trino-catalog');
  const schema = headerValue(req, 'x-trino-schema');
  if (schema !== undefined && catalog === undefined) throw new BadRequest('Schema is set but catalog is not');

  const systemProperties: Record<string, string> = {};
  const catalogProperties: Record<string, Record<string, string>> = {};
  for (const [name, value] of parseNameValueList(headerValue(req, 'x-trino-session'), 'X-Trino-Session', true)) {
    const dot = name.indexOf('.');
    if (dot < 0) {
      systemProperties[name] = value;
    } else {
      const cat = name.slice(0, dot);
      const prop = name.slice(dot + 1);
      if (cat === '' || prop === '' || prop.includes('.')) throw new BadRequest('Invalid X-Trino-Session header');
      (catalogProperties[cat] ??= {})[prop] = value;
    }
  }
  const preparedStatements: Record<string, string> = {};
  for (const [name, value] of parseNameValueList(headerValue(req, 'x-trino-prepared-statement'), 'X-Trino-Prepared-Statement', true)) {
    preparedStatements[javaUrlDecode(name, 'X-Trino-Prepared-Statement')] = value;
  }
  const roles: Record<string, string> = {};
  for (const [name, value] of parseNameValueList(headerValue(req, 'x-trino-role'), 'X-Trino-Role', true)) roles[name] = value;
  const resourceEstimates: Record<string, string> = {};
  for (const [name, value] of parseNameValueList(headerValue(req, 'x-trino-resource-estimate'), 'X-Trino-Resource-Estimate', false)) {
    resourceEstimates[name] = value;
  }
  const extraCredentialNames = parseNameValueList(headerValue(req, 'x-trino-extra-credential'), 'X-Trino-Extra-Credential', true).map(([name]) => name);
  const list = (name: string): string[] =>
    (headerValue(req, name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const tx = headerValue(req, 'x-trino-transaction-id');
  return {
    user: auth.user,
    principal: auth.principal,
    originalUser: headerValue(req, 'x-trino-original-user'),
    source: headerValue(req, 'x-trino-source'),
    catalog: catalog?.toLowerCase(),
    schema: schema?.toLowerCase(),
    path: headerValue(req, 'x-trino-path'),
    timeZone: headerValue(req, 'x-trino-time-zone'),
    language: headerValue(req, 'x-trino-language'),
    traceToken: headerValue(req, 'x-trino-trace-token'),
    clientInfo: headerValue(req, 'x-trino-client-info'),
    clientTags: list('x-trino-client-tags'),
    clientCapabilities: list('x-trino-client-capabilities'),
    resourceEstimates,
    systemProperties,
    catalogProperties,
    preparedStatements,
    roles,
    extraCredentialNames,
    transactionId: tx === undefined || tx.toUpperCase() === 'NONE' ? undefined : tx,
    clientTransactionSupport: tx !== undefined,
    remoteUserAddress: req.socket.remoteAddress,
    userAgent: headerValue(req, 'user-agent'),
  };
}
