import { Transform, type TransformCallback } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config';
import { problem } from '../common/problem';
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, OPEN_BRACE, OPEN_BRACKET, QUOTE } from '../common/json-bytes';

/** The QueryResults fields that hold coordinator URIs a client follows or prints. */
export const QUERY_RESULTS_URI_FIELDS: ReadonlySet<string> = new Set(['nextUri', 'infoUri', 'partialCancelUri']);

/** A coordinator URI longer than this is not a URI the protocol produces: the page is refused. */
const MAX_URI_BYTES = 16 * 1024;
/** JSON spells a character of a key in at most 6 bytes (`\u0070`): a longer key is none of the targets. */
const MAX_BYTES_PER_KEY_CHAR = 6;

const COMMA = 0x2c;
const QUOTE_BYTES = Buffer.from('"');

/** What each byte is to a scan below the top level (0: nothing to follow). */
const QUOTE_BYTE = 1;
const BACKSLASH_BYTE = 2;
const OPEN_BYTE = 3;
const CLOSE_BYTE = 4;
const BYTE_KIND = new Uint8Array(256);
BYTE_KIND[QUOTE] = QUOTE_BYTE;
BYTE_KIND[BACKSLASH] = BACKSLASH_BYTE;
BYTE_KIND[OPEN_BRACE] = OPEN_BYTE;
BYTE_KIND[OPEN_BRACKET] = OPEN_BYTE;
BYTE_KIND[CLOSE_BRACE] = CLOSE_BYTE;
BYTE_KIND[CLOSE_BRACKET] = CLOSE_BYTE;

const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;
const PREFIX = /^(?:\/[A-Za-z0-9._~-]+){1,8}$/;
const PROTOCOL_PATH = /\/(?:v1|ui)\//;

/**
 * The base URL clients must use to reach the BFF, as the BFF writes it into nextUri, infoUri and
 * partialCancelUri (infoUri, the query's page in Trino's web UI, becomes the BFF's /ui/query.html,
 * which redirects to TRINO_UI_URL: a client is never handed the coordinator's internal address): PUBLIC_URL when configured; otherwise the request's own scheme and host, which
 * Fastify takes from X-Forwarded-Proto / X-Forwarded-Host only when TRUST_PROXY is on (then
 * X-Forwarded-Prefix is honoured too, as Trino 452+ does).
 */
export function publicBaseUrl(req: FastifyRequest, config: Pick<AppConfig, 'publicUrl' | 'trustProxy'>): string {
  if (config.publicUrl) return config.publicUrl;
  const host = req.host;
  if (typeof host !== 'string' || !HOST.test(host)) throw problem.badRequest('the Host header is missing or not a host name');
  const proto = req.protocol === 'https' ? 'https' : 'http';
  let prefix = '';
  if (config.trustProxy) {
    const raw = req.headers['x-forwarded-prefix'];
    const given = (Array.isArray(raw) ? raw[0] : raw)?.split(',')[0].trim().replace(/\/+$/, '');
    if (given && PREFIX.test(given)) prefix = given;
  }
  return `${proto}://${host}${prefix}`;
}

/**
 * The protocol path (and query) of a coordinator URI: everything from `/v1/` or `/ui/` on. The host
 * a coordinator writes into its URIs is never trusted or contacted: the BFF only ever calls TRINO_URL.
 */
export function protocolPath(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  const i = url.pathname.search(PROTOCOL_PATH);
  return i < 0 ? undefined : url.pathname.slice(i) + url.search;
}

/** A coordinator URI re-based onto the BFF's public base URL (unchanged when it is not a protocol URI). */
export function rebaseUri(uri: string, publicBase: string): string {
  const path = protocolPath(uri);
  return path === undefined ? uri : publicBase + path;
}

/**
 * Rewrites the string values of chosen top-level keys of a JSON document while it streams through,
 * and passes every other byte through untouched. It keeps only the lexer state (nesting depth,
 * whether it is inside a string) and the bytes of one short key or URI at a time, so memory does not
 * depend on the size of the document: a page of a million rows goes through in constant memory.
 *
 * Only depth-1 keys are looked at, so a column value that happens to be called "nextUri", or to
 * contain one, is never touched.
 */
export class JsonUriRewriter extends Transform {
  /** The target keys, typed to be asked about a key that is none (`undefined`: too long or undecodable). */
  private readonly keys: ReadonlySet<string | undefined>;
  /** A depth-1 key spelled in more bytes than this is none of the targets: its bytes are not kept. */
  private readonly maxKeyBytes: number;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** At depth 1, the next string is a key. */
  private expectKey = false;
  /** Inside a depth-1 key: its bytes so far (only the first `maxKeyBytes`: a longer key is dropped at its end). */
  private keyParts: Buffer[] | undefined;
  private keyBytes = 0;
  /** The last depth-1 key (undefined when it was too long or undecodable). */
  private lastKey: string | undefined;
  /** The target key whose value comes next at depth 1 (after its colon). */
  private valueKey: string | undefined;
  /** Inside a depth-1 string value that is to be rewritten: its raw bytes so far. */
  private valueParts: Buffer[] | undefined;
  private valueBytes = 0;
  /** The target keys met at depth 1 so far. */
  private readonly seen = new Set<string | undefined>();
  /**
   * Every target key has been met and its value passed: an object names a key once, so nothing is
   * left to rewrite and the rest of the document (the rows) goes through without being looked at.
   */
  private done = false;

  constructor(
    keys: ReadonlySet<string>,
    private readonly rewrite: (value: string) => string,
  ) {
    super();
    this.keys = keys;
    this.maxKeyBytes = MAX_BYTES_PER_KEY_CHAR * Math.max(...Array.from(keys, (key) => key.length));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.scan(chunk, (part) => this.push(part));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    // A document cut inside a captured value is passed on as it came (the client sees it truncated).
    if (this.valueParts) this.push(Buffer.concat([QUOTE_BYTES, ...this.valueParts]));
    this.valueParts = undefined;
    callback();
  }

  /**
   * Reads one chunk at depths 0 and 1 (below that, `skipNested`), emitting its bytes in order with each
   * target value replaced. An empty part may be emitted; a stream drops it.
   */
  private scan(chunk: Buffer, emit: (part: Buffer) => void): void {
    if (this.done) {
      emit(chunk);
      return;
    }
    /** Start of the bytes of this chunk not emitted yet. */
    let emitFrom = 0;
    /** Where the key or captured value continues in this chunk (0 when it began in an earlier one). */
    let keyStart = 0;
    let valueStart = 0;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      // Trino leaves partialCancelUri out of most data pages, so the rewriter reads those to their end:
      // below the top level (the rows) it only follows nesting and strings, in a loop of its own. This
      // loop sees depth 0 (only the document's first opening and last closing byte there) and depth 1.
      if (this.depth >= 2) {
        i = this.skipNested(chunk, i);
        continue;
      }
      const c = chunk[i];
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
        } else if (c === BACKSLASH) {
          this.escaped = true;
        } else if (c === QUOTE) {
          this.inString = false;
          if (this.keyParts) {
            this.addKeyBytes(this.keyParts, chunk.subarray(keyStart, i));
            this.lastKey = this.keyBytes <= this.maxKeyBytes ? decodeJsonString(Buffer.concat(this.keyParts)) : undefined;
            this.keyParts = undefined;
            this.expectKey = false;
          } else if (this.valueParts) {
            this.addValueBytes(this.valueParts, chunk.subarray(valueStart, i));
            emit(this.rewritten(Buffer.concat(this.valueParts)));
            this.valueParts = undefined;
            emitFrom = i + 1;
            if (this.seen.size === this.keys.size) break;
          }
        }
        continue;
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (this.expectKey) {
            this.keyParts = [];
            this.keyBytes = 0;
            keyStart = i + 1;
          } else if (this.valueKey !== undefined) {
            emit(chunk.subarray(emitFrom, i));
            this.valueParts = [];
            this.valueBytes = 0;
            valueStart = i + 1;
          }
          this.valueKey = undefined;
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          // The first string of the top-level object is a key. (Also set on a nested value's opening: the
          // next byte at depth 1 after it is a comma, which sets it anyway, or the document's end; and the
          // strings of a top-level array are never followed by a colon.)
          this.depth++;
          this.expectKey = true;
          this.valueKey = undefined;
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          this.depth--;
          break;
        case COLON:
          if (this.keys.has(this.lastKey)) {
            this.valueKey = this.lastKey;
            this.seen.add(this.lastKey);
          }
          break;
        case COMMA:
          this.expectKey = true;
          this.valueKey = undefined;
          break;
      }
    }
    if (this.keyParts) this.addKeyBytes(this.keyParts, chunk.subarray(keyStart));
    if (this.valueParts) this.addValueBytes(this.valueParts, chunk.subarray(valueStart));
    else emit(chunk.subarray(emitFrom));
    // Done once every target key's value has been passed (none pending after its colon, none half-read).
    if (!this.valueParts && this.valueKey === undefined && this.seen.size === this.keys.size) this.done = true;
  }

  /**
   * Reads from `from` while the depth is 2 or more, where nothing is kept or rewritten: only nesting and
   * strings are followed, in locals and with one table look-up per byte (about twice as fast as the
   * general loop, on rows). Returns the index of the last byte read: the bracket or brace back at
   * depth 1, or the chunk's length when it read the whole chunk.
   */
  private skipNested(chunk: Buffer, from: number): number {
    const n = chunk.length;
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    let i = from;
    for (; i < n; i++) {
      const kind = BYTE_KIND[chunk[i]];
      if (kind === 0) {
        escaped = false;
      } else if (inString) {
        if (escaped) escaped = false;
        else if (kind === BACKSLASH_BYTE) escaped = true;
        else if (kind === QUOTE_BYTE) inString = false;
      } else if (kind === QUOTE_BYTE) {
        inString = true;
      } else if (kind === OPEN_BYTE) {
        depth++;
      } else if (--depth < 2) {
        // A bracket or brace closing (a backslash is never outside a string): back at depth 1.
        break;
      }
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    return i;
  }

  /** A captured string value (raw JSON bytes, without quotes) after rewriting; left as it came when undecodable. */
  private rewritten(raw: Buffer): Buffer {
    const value = decodeJsonString(raw);
    if (value === undefined) return Buffer.concat([QUOTE_BYTES, raw, QUOTE_BYTES]);
    return Buffer.from(JSON.stringify(this.rewrite(value)), 'utf8');
  }

  /** Keeps the bytes of a key up to `maxKeyBytes` and counts the rest. */
  private addKeyBytes(parts: Buffer[], part: Buffer): void {
    this.keyBytes += part.length;
    if (this.keyBytes <= this.maxKeyBytes) parts.push(Buffer.from(part));
  }

  private addValueBytes(parts: Buffer[], part: Buffer): void {
    this.valueBytes += part.length;
    if (this.valueBytes > MAX_URI_BYTES) throw new Error('the coordinator sent a URI longer than 16 KiB');
    parts.push(Buffer.from(part));
  }
}

function decodeJsonString(raw: Buffer): string | undefined {
  try {
    const v: unknown = JSON.parse(`"${raw.toString('utf8')}"`);
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
