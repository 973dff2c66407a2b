import { Trino } from 'trino-client';
import type { QueryResult } from 'trino-client';
import { startTrinoCoordinator, type TrinoCoordinator } from '../../sandbox/trino-coordinator';

jest.setTimeout(30_000);

interface Collected {
  rows: unknown[][];
  columns: Array<{ name: string; type: string; typeSignature?: unknown }>;
  error?: QueryResult['error'];
}

async function collect(trino: Trino, query: string): Promise<Collected> {
  const pages: QueryResult[] = [];
  for await (const page of await trino.query(query)) pages.push(page);
  return {
    rows: pages.flatMap((p) => p.data ?? []),
    columns: (pages.find((p) => p.columns)?.columns ?? []) as Collected['columns'],
    error: pages.find((p) => p.error)?.error,
  };
}

/** The SQL the sandbox Trino answers with DuckDB over the demo tables, through the Trino protocol (trino-client). */
describe('sandbox Trino: SQL answered by DuckDB', () => {
  let coord: TrinoCoordinator;
  let tiny: Trino;
  let bare: Trino;

  beforeAll(async () => {
    coord = await startTrinoCoordinator({ pageRows: 10 });
    tiny = Trino.create({ server: coord.url, catalog: 'tpch', schema: 'tiny', extraHeaders: { 'X-Trino-User': 'tester' } });
    bare = Trino.create({ server: coord.url, extraHeaders: { 'X-Trino-User': 'tester' } });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('ORDER BY, WHERE, GROUP BY, joins, qualified columns and aliases', async () => {
    const ordered = await collect(tiny, 'SELECT nationkey, name FROM nation ORDER BY nationkey DESC LIMIT 3');
    expect(ordered.rows).toEqual([
      [24, 'UNITED STATES'],
      [23, 'UNITED KINGDOM'],
      [22, 'RUSSIA'],
    ]);
    const joined = await collect(
      bare,
      `SELECT r.name AS region, count(*) AS nations
         FROM tpch.tiny.nation n JOIN tpch.tiny.region r ON n.regionkey = r.regionkey
        WHERE n.name <> 'PERU'
        GROUP BY r.name
        ORDER BY nations DESC, region`,
    );
    expect(joined.columns.map((c) => [c.name, c.type])).toEqual([
      ['region', 'varchar(25)'],
      ['nations', 'bigint'],
    ]);
    expect(joined.rows).toEqual([
      ['AFRICA', 5],
      ['ASIA', 5],
      ['EUROPE', 5],
      ['MIDDLE EAST', 5],
      ['AMERICA', 4],
    ]);
    // More rows than a page: paged by nextUri like any result.
    expect((await collect(tiny, 'SELECT n1.name, n2.name FROM nation n1 CROSS JOIN nation n2')).rows).toHaveLength(625);
    const sales = await collect(bare, "SELECT region, sum(total_price) AS total FROM hive.sales.orders WHERE status = 'SHIPPED' GROUP BY 1 ORDER BY 1");
    expect(sales.rows).toEqual([
      ['AMERICA', 25309],
      ['ASIA', 2300],
      ['EUROPE', 1250.5],
    ]);
  });

  it('names columns as Trino does and maps DuckDB types to Trino type signatures', async () => {
    const r = await collect(
      bare,
      "SELECT 1, 'a' AS b, count(*) OVER () AS c, CAST(1.25 AS DECIMAL(10,2)) AS d, DATE '2025-01-03' AS day, TIMESTAMP '2025-01-03 10:00:00' AS ts, [1, 2] AS list, {'x': 1} AS rec, true AS flag, 2.5::DOUBLE AS dbl",
    );
    expect(r.columns.map((c) => [c.name, c.type])).toEqual([
      ['_col0', 'integer'],
      ['b', 'varchar'],
      ['c', 'bigint'],
      ['d', 'decimal(10,2)'],
      ['day', 'date'],
      ['ts', 'timestamp(6)'],
      ['list', 'array(integer)'],
      ['rec', 'row(x integer)'],
      ['flag', 'boolean'],
      ['dbl', 'double'],
    ]);
    expect(r.rows).toEqual([[1, 'a', 1, '1.25', '2025-01-03', '2025-01-03 10:00:00.000000', [1, 2], [1], true, 2.5]]);
    expect(r.columns[3].typeSignature).toEqual({
      rawType: 'decimal',
      arguments: [
        { kind: 'LONG', value: 10 },
        { kind: 'LONG', value: 2 },
      ],
    });
    expect(r.columns[6].typeSignature).toEqual({ rawType: 'array', arguments: [{ kind: 'TYPE', value: { rawType: 'integer', arguments: [] } }] });
  });

  it('answers Trino’s session functions with the session’s values', async () => {
    expect((await collect(tiny, 'SELECT current_user, current_catalog, current_schema, version()')).rows).toEqual([['tester', 'tpch', 'tiny', '475']]);
  });

  it('errors come in Trino’s shape, named as Trino names them, at the position DuckDB points at', async () => {
    const column = await collect(tiny, 'SELECT nme FROM nation');
    expect(column.error).toMatchObject({ errorName: 'COLUMN_NOT_FOUND', errorType: 'USER_ERROR', errorLocation: { lineNumber: 1, columnNumber: 8 } });
    expect(column.error?.message).toBe("line 1:8: Column 'nme' cannot be resolved");
    const table = await collect(tiny, 'SELECT * FROM nope');
    expect(table.error).toMatchObject({ errorName: 'TABLE_NOT_FOUND', message: "line 1:15: Table 'tpch.tiny.nope' does not exist" });
    const unscoped = await collect(bare, 'SELECT * FROM nation');
    expect(unscoped.error?.errorName).toBe('MISSING_CATALOG_NAME');
    const syntax = await collect(tiny, 'SELECT name FROM nation WHERE');
    expect(syntax.error).toMatchObject({ errorName: 'SYNTAX_ERROR', errorCode: 1 });
  });

  it('runs one query and nothing else: no second statement, no files, no writes', async () => {
    expect((await collect(tiny, 'SELECT 1; DROP TABLE nation')).error).toMatchObject({ errorName: 'SYNTAX_ERROR' });
    expect((await collect(tiny, "SELECT * FROM read_csv('/etc/passwd')")).error?.errorName).toMatch(/NOT_SUPPORTED|GENERIC_USER_ERROR/);
    expect((await collect(tiny, "SELECT * FROM read_csv('/etc/passwd')")).rows).toEqual([]);
    expect((await collect(tiny, 'DELETE FROM nation')).error?.errorName).toBe('NOT_SUPPORTED');
    expect((await collect(tiny, 'SELECT count(*) FROM nation')).rows).toEqual([[25]]);
  });

  it('the emulator’s own tables (system, sandbox.gen, information_schema) and SHOW statements still answer', async () => {
    expect((await collect(bare, 'SELECT * FROM sandbox.gen.rows_25')).rows).toHaveLength(25);
    expect((await collect(bare, 'SELECT * FROM system.runtime.nodes')).rows).toHaveLength(1);
    expect((await collect(bare, 'SHOW COLUMNS FROM tpch.tiny.nation')).rows.map((r) => r.slice(0, 2))).toEqual([
      ['nationkey', 'bigint'],
      ['name', 'varchar(25)'],
      ['regionkey', 'bigint'],
      ['comment', 'varchar(152)'],
    ]);
  });
});
