import { QUERY_ID } from './query-ownership';

export type StatementStage = 'queued' | 'executing';

/** A follow-up URI of a statement, checked piece by piece before anything is forwarded. */
export interface StatementTarget {
  queryId: string;
  /** `/v1/statement/...` as it is forwarded to TRINO_URL (query string not included). */
  path: string;
  /** `/v1/statement/executing/partialCancel/...`: DELETE only. */
  partialCancel: boolean;
}

const SLUG = /^[A-Za-z0-9]{1,128}$/;
const TOKEN = /^\d{1,19}$/;
const STAGE_ID = /^\d{1,9}$/;
/** airlift DataSize / Duration values (`1s`, `250ms`, `1.5MB`). */
const SIZE_OR_DURATION = /^\d{1,12}(?:\.\d{1,6})?\s?[A-Za-z]{1,2}$/;
/** The query parameters of nextUri requests (the Trino client protocol's nextUri carries none but these); anything else is not forwarded. */
const FOLLOW_PARAMS = ['maxWait', 'targetResultSize'] as const;

/**
 * Parses what follows `/v1/statement/{stage}/`: `{queryId}/{slug}/{token}`, or for the executing stage
 * also `partialCancel/{queryId}/{stageId}/{slug}/{token}`. Anything else is undefined (a 404 that never
 * reaches Trino).
 */
export function statementTarget(stage: StatementStage, rest: string): StatementTarget | undefined {
  const seg = rest.split('/');
  if (seg.length === 3 && QUERY_ID.test(seg[0]) && SLUG.test(seg[1]) && TOKEN.test(seg[2])) {
    return { queryId: seg[0], path: `/v1/statement/${stage}/${seg.join('/')}`, partialCancel: false };
  }
  if (
    stage === 'executing' &&
    seg.length === 5 &&
    seg[0] === 'partialCancel' &&
    QUERY_ID.test(seg[1]) &&
    STAGE_ID.test(seg[2]) &&
    SLUG.test(seg[3]) &&
    TOKEN.test(seg[4])
  ) {
    return { queryId: seg[1], path: `/v1/statement/executing/${seg.join('/')}`, partialCancel: true };
  }
  return undefined;
}

/** The query string forwarded with a nextUri request: only the protocol's own, well-formed parameters. */
export function followQueryString(query: unknown): string {
  if (!query || typeof query !== 'object') return '';
  let s = '';
  for (const name of FOLLOW_PARAMS) {
    const value = (query as Record<string, unknown>)[name];
    if (typeof value === 'string' && SIZE_OR_DURATION.test(value)) s += `${s ? '&' : '?'}${name}=${encodeURIComponent(value).replace(/%20/g, '+')}`;
  }
  return s;
}
