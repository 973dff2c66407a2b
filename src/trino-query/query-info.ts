import { rebaseUri } from './uri-rewriter';

/** QueryInfo is a status document, read whole: one larger than this is refused (502), never buffered further. */
export const MAX_QUERY_INFO_BYTES = 32 * 1024 * 1024;

const ABSOLUTE_HTTP = /^https?:\/\//i;

/**
 * Trino's QueryInfo names the cluster's nodes, not only the query's own `self`: every stage's and task's
 * `self` (`http://<worker>:8080/v1/task/…`), exchange locations, a failed task's `remoteHost`. None of them
 * is for the client. Every absolute URI with a protocol path is re-based onto the BFF (which serves the
 * query's own and nothing below it), any other absolute URI and every `remoteHost` become null: the answer
 * names no internal host, at whatever depth.
 */
export function scrubQueryInfo(text: string, publicBase: string): string {
  const doc: unknown = JSON.parse(text, (key, value: unknown) => {
    if (key === 'remoteHost') return null;
    if (typeof value !== 'string' || !ABSOLUTE_HTTP.test(value)) return value;
    const rebased = rebaseUri(value, publicBase);
    return rebased === value ? null : rebased;
  });
  return JSON.stringify(doc);
}
