/** The Trino client protocol followed with fetch, page by page, so that each answer can be inspected. */

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

export interface RawRun {
  pages: Json[];
  rows: unknown[][];
  /** Response headers of every answer, in order. */
  headers: Headers[];
  error?: Json;
}

/** Follows a query the way every Trino client does: POST /v1/statement, then each nextUri until there is none. */
export async function runRaw(base: string, token: string, sql: string, headers: Record<string, string> = {}): Promise<RawRun> {
  const out: RawRun = { pages: [], rows: [], headers: [] };
  let res = await fetch(`${base}/v1/statement`, { method: 'POST', body: sql, headers: { ...bearer(token), 'content-type': 'text/plain', ...headers } });
  for (;;) {
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as Json;
    out.pages.push(page);
    out.headers.push(res.headers);
    if (page.data) out.rows.push(...(page.data as unknown[][]));
    if (page.error) out.error = page.error as Json;
    if (!page.nextUri) return out;
    res = await fetch(page.nextUri as string, { headers: bearer(token) });
  }
}
