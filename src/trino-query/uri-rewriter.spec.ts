import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { JsonUriRewriter, protocolPath, QUERY_RESULTS_URI_FIELDS, rebaseUri } from './uri-rewriter';

const BASE = 'https://bff.example.com/data';
const rewrite = (uri: string) => rebaseUri(uri, BASE);

async function run(chunks: Buffer[]): Promise<string> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), new JsonUriRewriter(QUERY_RESULTS_URI_FIELDS, rewrite), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out).toString('utf8');
}

const page = {
  id: '20250101_120000_00001_abcde',
  infoUri: 'http://trino-internal:8080/ui/query.html?20250101_120000_00001_abcde',
  partialCancelUri: 'http://trino-internal:8080/v1/statement/executing/partialCancel/20250101_120000_00001_abcde/0/yabc/3',
  nextUri: 'http://trino-internal:8080/v1/statement/executing/20250101_120000_00001_abcde/yabc/3',
  columns: [
    { name: 'nextUri', type: 'varchar' },
    { name: 'j', type: 'json' },
  ],
  data: [
    ['http://trino-internal:8080/v1/statement/x', '{"nextUri":"http://trino-internal:8080/v1/x"}'],
    ['quote " brace } bracket ] backslash \\ ', 'ünïcødé ✓ "nextUri":'],
  ],
  stats: { state: 'RUNNING', nested: { nextUri: 'http://trino-internal:8080/v1/keep' } },
  warnings: [],
};
const expected = JSON.stringify({
  ...page,
  infoUri: `${BASE}/ui/query.html?20250101_120000_00001_abcde`,
  partialCancelUri: `${BASE}/v1/statement/executing/partialCancel/20250101_120000_00001_abcde/0/yabc/3`,
  nextUri: `${BASE}/v1/statement/executing/20250101_120000_00001_abcde/yabc/3`,
});

describe('JsonUriRewriter', () => {
  it('rewrites only the top-level URI fields, leaving data and nested objects untouched', async () => {
    expect(await run([Buffer.from(JSON.stringify(page))])).toBe(expected);
  });

  it('gives the same result however the document is cut into chunks', async () => {
    const doc = Buffer.from(JSON.stringify(page));
    for (let cut = 1; cut < doc.length; cut++) {
      expect(await run([doc.subarray(0, cut), doc.subarray(cut)])).toBe(expected);
    }
    expect(await run([...doc].map((b) => Buffer.from([b])))).toBe(expected);
  });

  it('handles whitespace, escaped URIs and fields in any order', async () => {
    const doc = '{ "stats" : {"state":"FINISHED"} ,\n "nextUri" :\t"http:\\/\\/c:8080\\/v1\\/statement\\/executing\\/q\\/y\\/1", "id":"q" }';
    expect(JSON.parse(await run([Buffer.from(doc)]))).toEqual({
      stats: { state: 'FINISHED' },
      nextUri: `${BASE}/v1/statement/executing/q/y/1`,
      id: 'q',
    });
  });

  it('passes documents without URI fields, and non-string values of them, byte for byte', async () => {
    const doc = '{"id":"q","nextUri":null,"infoUri":42,"data":[[1,"a"]]}';
    expect(await run([Buffer.from(doc)])).toBe(doc);
  });

  it('refuses an absurdly long URI instead of buffering it', async () => {
    const doc = `{"nextUri":"http://c/v1/${'a'.repeat(20000)}"}`;
    await expect(run([Buffer.from(doc)])).rejects.toThrow(/longer than 16 KiB/);
  });

  it('keeps memory flat: a large page goes through in chunks as they come', async () => {
    const rows = Array.from({ length: 50000 }, (_, i) => [i, `row-${i}`]);
    const doc = Buffer.from(JSON.stringify({ id: 'q', nextUri: 'http://c:1/v1/statement/executing/q/y/2', data: rows }));
    const chunks: Buffer[] = [];
    for (let i = 0; i < doc.length; i += 16384) chunks.push(doc.subarray(i, i + 16384));
    const out = JSON.parse(await run(chunks)) as { nextUri: string; data: unknown[] };
    expect(out.nextUri).toBe(`${BASE}/v1/statement/executing/q/y/2`);
    expect(out.data).toHaveLength(50000);
  });
});

describe('protocolPath / rebaseUri', () => {
  it('keeps the protocol path and query, whatever host and prefix the coordinator used', () => {
    expect(protocolPath('http://10.0.0.7:8080/v1/statement/queued/q/y/1')).toBe('/v1/statement/queued/q/y/1');
    expect(protocolPath('https://gw/trino/v1/statement/executing/q/y/1?maxWait=1s')).toBe('/v1/statement/executing/q/y/1?maxWait=1s');
    expect(protocolPath('http://c/ui/query.html?q')).toBe('/ui/query.html?q');
    expect(protocolPath('not a uri')).toBeUndefined();
    expect(rebaseUri('http://c/v1/query/q', 'http://bff:3000')).toBe('http://bff:3000/v1/query/q');
    expect(rebaseUri('http://c/elsewhere', 'http://bff:3000')).toBe('http://c/elsewhere');
  });
});
