/**
 * What the MLflow emulator's endpoints share: MLflow's error shape, request messages read as MLflow
 * reads them (protobuf's JSON mapping), typed parameters, and page tokens.
 */
import type * as http from 'node:http';

export interface MlflowTag {
  key: string;
  value: string;
}

export class MlflowError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
export const invalid = (message: string) => new MlflowError(400, 'INVALID_PARAMETER_VALUE', message);
export const missing = (name: string) => invalid(`Missing value for required parameter '${name}'. See the API docs for more information about request parameters.`);
export const notFound = (message: string) => new MlflowError(404, 'RESOURCE_DOES_NOT_EXIST', message);

export type Params = Record<string, unknown>;

/**
 * A key as protobuf's JSON mapping reads it: a field is named by its proto name (`experiment_id`)
 * or its lowerCamelCase JSON name (`experimentId`), which this turns back into the proto name.
 */
export function protoFieldName(key: string): string {
  return /^[a-z][a-zA-Z0-9]*$/.test(key) && /[A-Z]/.test(key) ? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : key;
}

/**
 * A request message as MLflow parses a JSON body (protobuf's JSON mapping, applied to nested
 * messages too): both spellings set the field, and the later key wins. (JSON.parse has already kept
 * the last of two identical keys.)
 */
export function protoMessage(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(protoMessage);
  if (!value || typeof value !== 'object') return value;
  const out: Params = {};
  for (const [key, v] of Object.entries(value as Params)) {
    const name = protoFieldName(key);
    delete out[name];
    out[name] = protoMessage(v);
  }
  return out;
}

/**
 * GET parameters as MLflow reads them. Protobuf requests (`proto`): both spellings name the field,
 * the later one wins, a repeated field collects every value. Flask handlers reading `request.args`
 * (`args`): names as spelled, the first value of a single field, every value of a repeated one.
 */
export function queryMessage(query: URLSearchParams, repeated: readonly string[], how: 'proto' | 'args'): Params {
  const out: Params = {};
  for (const [key, value] of query) {
    const name = how === 'proto' ? protoFieldName(key) : key;
    if (repeated.includes(name)) out[name] = [...((out[name] as string[] | undefined) ?? []), value];
    else if (how === 'proto' || !(name in out)) out[name] = value;
  }
  return out;
}

export function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function readRaw(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new MlflowError(413, 'INVALID_PARAMETER_VALUE', 'Request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export const str = (p: Params, name: string): string | undefined => {
  const v = p[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(`Invalid value ${JSON.stringify(v)} for parameter '${name}' supplied: expected a string`);
  return v;
};
export const required = (p: Params, name: string): string => {
  const v = str(p, name);
  if (v === undefined) throw missing(name);
  return v;
};
export const num = (p: Params, name: string): number | undefined => {
  const v = p[name];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw invalid(`Invalid value ${JSON.stringify(v)} for parameter '${name}' supplied`);
  return n;
};
export const tagsOf = (v: unknown, name: string): MlflowTag[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`Invalid value for parameter '${name}' supplied: expected a list`);
  return v.map((t: unknown) => {
    const o = (t ?? {}) as Params;
    return { key: required(o, 'key'), value: str(o, 'value') ?? '' };
  });
};

export function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}
export function offsetOf(token: string | undefined): number {
  if (!token) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { offset?: unknown };
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw invalid('Invalid page token, could not base64-decode');
}
export function paginate<T>(items: T[], p: Params, maxDefault: number): { page: T[]; next?: string } {
  const max = num(p, 'max_results') ?? maxDefault;
  if (!Number.isInteger(max) || max < 1 || max > 50000) throw invalid(`Invalid value ${max} for parameter 'max_results' supplied.`);
  const offset = offsetOf(str(p, 'page_token'));
  const page = items.slice(offset, offset + max);
  return { page, next: offset + max < items.length ? pageToken(offset + max) : undefined };
}

/** SQL-ish LIKE: % any run, _ one character. */
export function likeToRegex(pattern: string, flags: string): RegExp {
  const body = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replace(/%/g, '.*')
    .replace(/_/g, '.');
  return new RegExp(`^${body}$`, flags);
}
