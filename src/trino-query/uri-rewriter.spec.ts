import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import type { ProblemException } from '../common/problem';
import type { AppConfig } from '../config/app-config';
import { JsonUriRewriter, protocolPath, publicBaseUrl, QUERY_RESULTS_URI_FIELDS, rebaseUri } from './uri-rewriter';

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

  it("reads a page without partialCancelUri (most of Trino's data pages) to its end, however it is cut", async () => {
    // Rows of strings with escaped quotes and runs of backslashes (the rewriter skips strings it does not
    // keep with a native search); a top-level nextUri after the rows must still be found and rewritten.
    const rows = [
      ['a \\"nextUri\\": "http://trino-internal:8080/v1/x"', '\\', '\\\\"', 'ends with a backslash \\'],
      ['{"nextUri":"http://trino-internal:8080/v1/y"}', '"', '', '\\\\\\"]}'],
    ];
    const doc = Buffer.from(
      `{"id":"q","infoUri":"http://trino-internal:8080/ui/query.html?q","columns":[{"name":"s","type":"varchar"}],` +
        `"data":${JSON.stringify(rows)},"stats":{"nextUri":"http://trino-internal:8080/v1/keep"},"nextUri":"http://trino-internal:8080/v1/statement/executing/q/y/2"}`,
    );
    const want = JSON.stringify({
      id: 'q',
      infoUri: `${BASE}/ui/query.html?q`,
      columns: [{ name: 's', type: 'varchar' }],
      data: rows,
      stats: { nextUri: 'http://trino-internal:8080/v1/keep' },
      nextUri: `${BASE}/v1/statement/executing/q/y/2`,
    });
    expect(await run([doc])).toBe(want);
    for (let cut = 1; cut < doc.length; cut++) {
      expect(await run([doc.subarray(0, cut), doc.subarray(cut)])).toBe(want);
    }
    expect(await run([...doc].map((b) => Buffer.from([b])))).toBe(want);
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

  it('rewrites a URI of exactly 16 KiB and refuses one byte more', async () => {
    const uri = (bytes: number) => `http://c/v1/${'a'.repeat(bytes - 'http://c/v1/'.length)}`;
    expect(JSON.parse(await run([Buffer.from(`{"nextUri":"${uri(16384)}"}`)]))).toEqual({ nextUri: `${BASE}/v1/${'a'.repeat(16384 - 12)}` });
    await expect(run([Buffer.from(`{"nextUri":"${uri(16385)}"}`)])).rejects.toThrow(/longer than 16 KiB/);
  });

  it('rewrites the nextUri after a top-level string that holds escaped quotes, the key and a URI, and leaves that string alone', async () => {
    // A string field at the top level (here one the rewriter does not know) with an odd number of escaped quotes.
    const text = 'SELECT \'"nextUri":"http://trino-internal:8080/v1/statement/other"\' AS "infoUri", \'\\\' AS b, \'"\' AS c';
    const results = {
      id: 'q',
      updateType: text,
      stats: { state: 'RUNNING' },
      nextUri: 'http://trino-internal:8080/v1/statement/executing/q/y/2',
    };
    const doc = Buffer.from(JSON.stringify(results));
    const want = JSON.stringify({ ...results, nextUri: `${BASE}/v1/statement/executing/q/y/2` });
    expect(await run([doc])).toBe(want);
    for (let cut = 1; cut < doc.length; cut++) expect(await run([doc.subarray(0, cut), doc.subarray(cut)])).toBe(want);
  });

  it('rewrites the URIs after a first key that is empty or ends in an escaped backslash', async () => {
    for (const first of ['', '\\\\', 'a\\\\']) {
      const doc = `{"${first}":"x","nextUri":"http://trino-internal:8080/v1/statement/executing/q/y/1"}`;
      expect([first, (JSON.parse(await run([Buffer.from(doc)])) as { nextUri: string }).nextUri]).toEqual([first, `${BASE}/v1/statement/executing/q/y/1`]);
    }
  });

  it('still finds the nextUri after rows holding escapes (\\n, \\u…), brackets and braces inside their strings', async () => {
    const rows = [
      ['line\nbreak', 'tab\tand "quotes"', 'é\u0001'],
      ['a ] b', 'c } d', '{ [ ['],
      ['\\', '"]'],
      ['a\nb', 'x'],
    ];
    const stats = { state: 'RUNNING', nextUri: 'http://trino-internal:8080/v1/keep' };
    const doc = JSON.stringify({ id: 'q', data: rows, stats, nextUri: 'http://trino-internal:8080/v1/statement/executing/q/y/4' });
    const want = JSON.stringify({ id: 'q', data: rows, stats, nextUri: `${BASE}/v1/statement/executing/q/y/4` });
    expect(await run([Buffer.from(doc)])).toBe(want);
    expect(await run([...Buffer.from(doc)].map((b) => Buffer.from([b])))).toBe(want);
  });

  it('passes a URI value it cannot decode, and a document cut inside a URI, as they came', async () => {
    const undecodable = '{"id":"q","nextUri":"http://c/v1/\\x"}';
    expect(await run([Buffer.from(undecodable)])).toBe(undecodable);
    const cut = '{"id":"q","nextUri":"http://trino-internal:8080/v1/statem';
    expect(await run([Buffer.from(cut)])).toBe(cut);
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
  it('leaves every other top-level string as it came, even one that looks like a coordinator URI or is spelled with escapes', async () => {
    const doc = `{"id":"q","updateType":"http://trino-internal:8080/v1/statement/other","error":"a\\/b \\u00e9","nextUri":"http://trino-internal:8080/v1/statement/executing/q/y/1"}`;
    expect(await run([Buffer.from(doc)])).toBe(doc.replace('http://trino-internal:8080/v1/statement/executing', `${BASE}/v1/statement/executing`));
  });

  it('passes documents that are not an object as they came', async () => {
    for (const doc of [
      '"http://trino-internal:8080/v1/statement/x"',
      '["nextUri","http://trino-internal:8080/v1/statement/x"]',
      '[{"nextUri":"http://trino-internal:8080/v1/x"}]',
    ]) {
      expect(await run([Buffer.from(doc)])).toBe(doc);
    }
  });

  it('knows a URI field by its name however JSON spells it, up to every character as a \\u escape', async () => {
    const spelled = (key: string) => [...key].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    const doc = Buffer.from(
      `{"${spelled('partialCancelUri')}":"http://trino-internal:8080/v1/statement/executing/partialCancel/q/0/y/1","n\\u0065xtUri":"http://trino-internal:8080/v1/statement/executing/q/y/1"}`,
    );
    const want = JSON.stringify({ partialCancelUri: `${BASE}/v1/statement/executing/partialCancel/q/0/y/1`, nextUri: `${BASE}/v1/statement/executing/q/y/1` });
    expect(JSON.stringify(JSON.parse(await run([doc])))).toBe(want);
    for (let cut = 1; cut < doc.length; cut++) expect(JSON.stringify(JSON.parse(await run([doc.subarray(0, cut), doc.subarray(cut)])))).toBe(want);
  });

  it("does not take a long key that begins with a URI field's name for that field, however it is cut", async () => {
    const doc = Buffer.from(`{"nextUri${'x'.repeat(100)}":"http://trino-internal:8080/v1/statement/other","id":"q"}`);
    for (let cut = 1; cut < doc.length; cut++) expect(await run([doc.subarray(0, cut), doc.subarray(cut)])).toBe(doc.toString());
  });

  it('keeps none of a long top-level key: memory stays flat however long the key is', async () => {
    // 256 KiB of key in 16 KiB chunks, all views of one buffer, written chunk by chunk to a sink (no
    // re-concatenation by a reader): any copy the rewriter kept shows in arrayBuffers (0 growth measured
    // without one, the key's 256 KiB with it).
    const block = Buffer.alloc(16 * 1024, 'k');
    const after = `":1,"nextUri":"http://trino-internal:8080/v1/statement/executing/q/y/1"}`;
    async function* chunks() {
      yield Buffer.from('{"');
      for (let i = 0; i < 16; i++) yield block;
      yield Buffer.from(after);
    }
    const before = process.memoryUsage().arrayBuffers;
    let grown = 0;
    let bytes = 0;
    const tail: Buffer[] = [];
    const sink = new Writable({
      write(c: Buffer, _encoding, done) {
        grown = Math.max(grown, process.memoryUsage().arrayBuffers - before);
        bytes += c.length;
        if (c.length < 1024) tail.push(c);
        done();
      },
    });
    await pipeline(chunks(), new JsonUriRewriter(QUERY_RESULTS_URI_FIELDS, rewrite), sink);
    const rewritten = `":1,"nextUri":"${BASE}/v1/statement/executing/q/y/1"}`;
    expect(Buffer.concat(tail).toString()).toBe(`{"${rewritten}`);
    expect(bytes).toBe(2 + 16 * 16 * 1024 + rewritten.length);
    expect(grown).toBeLessThan(64 * 1024);
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

describe('publicBaseUrl (the base the BFF writes into the URIs it hands out)', () => {
  const req = (host: unknown, protocol = 'http', headers: Record<string, string | string[]> = {}) => ({ host, protocol, headers }) as unknown as FastifyRequest;
  const base = (r: FastifyRequest, config: { publicUrl?: string; trustProxy?: boolean } = {}) => {
    try {
      return publicBaseUrl(r, { publicUrl: config.publicUrl, trustProxy: config.trustProxy ?? false } as Pick<AppConfig, 'publicUrl' | 'trustProxy'>);
    } catch (err) {
      const e = err as ProblemException;
      return `${e.getStatus()} ${e.reason}`;
    }
  };

  it('is PUBLIC_URL when configured, whatever the request says', () => {
    expect(base(req('evil.example', 'https', { 'x-forwarded-prefix': '/x' }), { publicUrl: 'https://bff.example.com/data', trustProxy: true })).toBe(
      'https://bff.example.com/data',
    );
  });

  it('is otherwise the request’s scheme and host: https only when the request was https', () => {
    expect(base(req('bff.internal:3000'))).toBe('http://bff.internal:3000');
    expect(base(req('bff.example.com', 'https'))).toBe('https://bff.example.com');
    expect(base(req('[::1]:3000'))).toBe('http://[::1]:3000');
    expect(base(req('bff', 'gopher'))).toBe('http://bff');
  });

  it('refuses a missing Host, or one that is not a host name (400 validation_failed)', () => {
    for (const host of [undefined, '', 'a b', 'evil.example/path', 'user@evil.example', 'h:123456', 'x'.repeat(254), '[zz::1]', 'h\n']) {
      expect([host, base(req(host))]).toEqual([host, '400 validation_failed']);
    }
    expect(base(req('x'.repeat(253)))).toBe(`http://${'x'.repeat(253)}`);
  });

  it('adds X-Forwarded-Prefix only behind a trusted proxy, and only a plain path prefix', () => {
    const prefixed = (prefix: string | string[], trustProxy = true) => base(req('bff', 'http', { 'x-forwarded-prefix': prefix }), { trustProxy });
    expect(prefixed('/data')).toBe('http://bff/data');
    expect(prefixed('/data/trino/')).toBe('http://bff/data/trino');
    expect(prefixed('/a, /b')).toBe('http://bff/a');
    expect(prefixed('/a , /b')).toBe('http://bff/a');
    expect(prefixed('/data//')).toBe('http://bff/data');
    expect(prefixed(['/first', '/second'])).toBe('http://bff/first');
    expect(prefixed('/data', false)).toBe('http://bff');
    for (const bad of ['data', '//evil.example', '/a?b', '/a b', '/%2e%2e', '/' + 'a/'.repeat(9) + 'a']) {
      expect([bad, prefixed(bad)]).toEqual([bad, 'http://bff']);
    }
    expect(prefixed('/' + Array.from({ length: 8 }, () => 'a').join('/'))).toBe('http://bff/a/a/a/a/a/a/a/a');
  });
});
