import { problem } from '../common/problem';
import type { RestCall, RestDecision } from './mlflow-call';
import { toQuery, type Decided } from './mlflow-fields';
import type { MlflowClient } from './mlflow.client';

/**
 * MLflow's searches, filtered to what the caller may see and refilled: when leaving items out makes
 * a page short, the BFF reads MLflow's next page and goes on, so a page is short only when nothing
 * more exists. Where the page ends inside one of MLflow's pages, its `next_page_token` is the BFF's
 * cursor — MLflow's token of that page and how many of its items were already passed — which MLflow
 * never sees: the next request reads it back into MLflow's token.
 */

/** Where a page starts: MLflow's token (none: the first page), items of that MLflow page already passed, the page size. */
export interface Cursor {
  upstream?: string;
  skip: number;
  size?: number;
}

const CURSOR_PREFIX = 'bff1.';
/** MLflow's own upper bound for max_results (search runs and experiments: 50,000). */
const MAX_SIZE = 50_000;
/** MLflow pages read for one answer at most; past that, the page is returned short with the cursor to go on. */
export const MAX_REFILL_PAGES = 20;

export function encodeCursor(c: Cursor): string {
  return CURSOR_PREFIX + Buffer.from(JSON.stringify({ u: c.upstream, s: c.skip, n: c.size })).toString('base64url');
}

function decodeCursor(token: string): Cursor {
  let c: { u?: unknown; s?: unknown; n?: unknown };
  try {
    c = JSON.parse(Buffer.from(token.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8')) as typeof c;
  } catch {
    throw problem.badRequest('page_token is malformed');
  }
  const int = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_SIZE;
  if (!c || typeof c !== 'object' || (c.u !== undefined && typeof c.u !== 'string') || !int(c.s) || (c.n !== undefined && !(int(c.n) && (c.n as number) > 0))) {
    throw problem.badRequest('page_token is malformed');
  }
  return { upstream: c.u as string | undefined, skip: c.s as number, size: c.n as number | undefined };
}

/**
 * The cursor a search request names (its `page_token`, MLflow's or the BFF's), and the request made
 * ready for MLflow: MLflow's token only, and enough results asked for to pass the items already seen.
 */
export function startSearch(p: Decided): Cursor {
  const given = p.page_token as string | undefined;
  const asked = p.max_results === undefined ? undefined : Number(p.max_results);
  if (asked !== undefined && !(Number.isSafeInteger(asked) && asked > 0)) return { upstream: given, skip: 0 };
  const cursor: Cursor = given?.startsWith(CURSOR_PREFIX) ? decodeCursor(given) : { upstream: given, skip: 0 };
  const size = asked ?? cursor.size;
  if (cursor.upstream === undefined || cursor.upstream === '') delete p.page_token;
  else p.page_token = cursor.upstream;
  if (size !== undefined) p.max_results = Math.max(size, cursor.skip + 1);
  return { ...cursor, size };
}

type Answer = Record<string, unknown>;

function itemsOf(page: Answer, list: string): unknown[] {
  return Array.isArray(page[list]) ? (page[list] as unknown[]) : [];
}

function nextOf(page: Answer): string | undefined {
  const t = page.next_page_token;
  return typeof t === 'string' && t !== '' ? t : undefined;
}

function pageOf(last: Answer, list: string, kept: unknown[], next: string | undefined): Answer {
  const { [list]: _items, next_page_token: _next, ...rest } = last;
  return { ...(kept.length > 0 ? { [list]: kept } : {}), ...rest, ...(next ? { next_page_token: next } : {}) };
}

/**
 * The caller's page, from MLflow's first answer: `visible` says which items of an MLflow page the
 * caller may see; `fetch` reads MLflow's page at a token. Without a page size (the client gave no
 * max_results), a first answer with a next token was a full page: its length is the size.
 */
export async function refill(
  first: Answer,
  cursor: Cursor,
  list: string,
  visible: (items: unknown[]) => Promise<boolean[]>,
  fetch: (upstream: string, size: number) => Promise<Answer>,
): Promise<Answer> {
  let page = first;
  let token = cursor.upstream;
  let skip = cursor.skip;
  const size = cursor.size ?? (nextOf(first) ? itemsOf(first, list).length : undefined);
  const kept: unknown[] = [];
  for (let round = 1; ; round++) {
    const items = itemsOf(page, list);
    const shown = await visible(items);
    const next = nextOf(page);
    for (let i = skip; i < items.length; i++) {
      if (!shown[i]) continue;
      kept.push(items[i]);
      if (size !== undefined && kept.length === size) {
        return pageOf(page, list, kept, i === items.length - 1 ? next : encodeCursor({ upstream: token, skip: i + 1, size }));
      }
    }
    if (next === undefined || size === undefined || size === 0 || round >= MAX_REFILL_PAGES) return pageOf(page, list, kept, next);
    token = next;
    skip = 0;
    page = await fetch(next, size);
  }
}

/**
 * A search call forwarded with its answer filtered by `visible` and refilled from MLflow's next
 * pages (the same request with MLflow's token of each).
 */
export function pagedSearch(client: MlflowClient, call: RestCall, list: string, visible: (items: unknown[]) => Promise<boolean[]>): RestDecision {
  const cursor = startSearch(call.p);
  const fetch = async (upstream: string, size: number): Promise<Answer> => {
    const q = { ...call.p, page_token: upstream, max_results: size };
    const { status, body } = await client.requestJson(call.upstreamMethod, call.target.upstreamPath, call.inQuery ? toQuery(q) : '', call.inQuery ? undefined : q);
    if (status !== 200 || !body || typeof body !== 'object') throw problem.badGateway(`MLflow answered ${status} to the next page of ${call.endpoint.name}`);
    return body as Answer;
  };
  return call.send({ inspect: (answer) => refill(answer, cursor, list, visible, fetch) });
}
