/**
 * The sandbox Trino's SQL engine: DuckDB (in memory, embedded through @duckdb/node-api) holding the
 * demo tables of demo-data.ts, one DuckDB database per Trino catalog (tpch, hive) and one schema per
 * Trino schema, so `tpch.tiny.nation` names the same table in both. It answers queries (SELECT,
 * WITH, VALUES, TABLE); the coordinator keeps Trino's protocol, session statements and its own live
 * tables (system.*, sandbox.gen.*, information_schema) for itself.
 *
 * Locked down after loading: no file, network or extension access (enable_external_access=false,
 * lock_configuration=true), one statement per query, and only statements DuckDB classifies as SELECT.
 */
import { DuckDBInstance, DuckDBTypeId, StatementType, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import { column, type Column } from './columns';
import { DEMO_TABLES, ENGINE_CATALOGS } from './demo-data';
import { failureFromDuckdb } from './duckdb-errors';
import { trinoColumn, trinoValue } from './duckdb-types';
import { TrinoFailure, failureAt } from './errors';

/** The session a query runs in: its user and default catalog and schema (X-Trino-Catalog / -Schema, USE). */
export interface EngineSession {
  user: string;
  catalog?: string;
  schema?: string;
}

export interface EngineResult {
  columns: Column[];
  rows: unknown[][];
}

/** The most rows one query may return: results are held in memory until paged out. */
export const MAX_ENGINE_ROWS = 100_000;
/** A query still running after this long is interrupted. */
export const ENGINE_TIMEOUT_MS = 30_000;
/** The version `SELECT version()` answers, as the coordinator's /v1/info does. */
const TRINO_VERSION = '475';

const QUERY_KEYWORDS = new Set(['SELECT', 'WITH', 'VALUES', 'TABLE', 'FROM']);

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const quoteString = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/**
 * Walks `sql` outside string literals, quoted identifiers and comments, calling `onWord` for each
 * bare word with its offset; returns the text with the words `onWord` replaced.
 */
function mapBareWords(sql: string, onWord: (word: string, start: number, end: number) => { text: string; end: number } | undefined): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const start = i;
    if (c === "'" || c === '"') {
      i++;
      while (i < sql.length && !(sql[i] === c && sql[i + 1] !== c)) i += sql[i] === c ? 2 : 1;
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < sql.length && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? sql.length : close + 2;
    } else if (/[A-Za-z_]/.test(c)) {
      while (i < sql.length && /[A-Za-z0-9_$]/.test(sql[i])) i++;
      const replaced = onWord(sql.slice(start, i), start, i);
      if (replaced) {
        out += replaced.text;
        i = replaced.end;
        continue;
      }
    } else {
      i++;
    }
    out += sql.slice(start, i);
  }
  return out;
}

/**
 * Whether the engine answers `sql`: a query (first word SELECT, WITH, VALUES, TABLE or FROM, maybe
 * after parentheses) that names none of the coordinator's own catalogs or information_schema, in a
 * session whose catalog (if any) is one the engine holds.
 */
export function answeredByDemoEngine(sql: string, sessionCatalog?: string): boolean {
  if (sessionCatalog !== undefined && !ENGINE_CATALOGS.includes(sessionCatalog)) return false;
  const words: string[] = [];
  mapBareWords(sql, (word, _start, end) => {
    words.push(word.toLowerCase());
    const next = sql.slice(end).match(/^\s*\./);
    if (next && (word.toLowerCase() === 'system' || word.toLowerCase() === 'sandbox')) words.push('<own catalog>');
    return undefined;
  });
  if (words.length === 0 || !QUERY_KEYWORDS.has(words[0].toUpperCase())) return false;
  return !words.includes('<own catalog>') && !words.includes('information_schema');
}

/** Trino's session functions, which DuckDB spells otherwise or lacks, as literals of this session. */
function withSessionValues(sql: string, session: EngineSession): string {
  const literal = (v: string | undefined) => (v === undefined ? 'CAST(NULL AS VARCHAR)' : quoteString(v));
  return mapBareWords(sql, (word, _start, end) => {
    switch (word.toLowerCase()) {
      case 'current_user':
        return { text: literal(session.user), end };
      case 'current_catalog':
        return { text: literal(session.catalog), end };
      case 'current_schema':
        return { text: literal(session.schema), end };
      case 'version': {
        const call = /^\s*\(\s*\)/.exec(sql.slice(end));
        return call ? { text: quoteString(TRINO_VERSION), end: end + call[0].length } : undefined;
      }
      default:
        return undefined;
    }
  });
}

interface SelectListEntry {
  class: string;
  alias: string;
  column_names?: string[];
}

/** Result column names, and for each column the demo column it reads as it is (if it does). */
interface ColumnNaming {
  names: string[];
  readsColumn: Array<string | undefined>;
}

/**
 * Trino's names for the result columns: an expression without an alias is `_col<i>` (DuckDB would
 * name it after its text, `count_star()`); columns and aliased expressions keep the name the query
 * gives them. Read from DuckDB's parse tree of the statement (json_serialize_sql), which also tells
 * which result columns read a table column as it is (`name`, `n.name AS n`, `*`).
 */
async function trinoColumnNames(connection: DuckDBConnection, sql: string, duckdbNames: string[]): Promise<ColumnNaming> {
  const asIs: ColumnNaming = { names: duckdbNames, readsColumn: duckdbNames.map(() => undefined) };
  try {
    // json_serialize_sql takes a constant string only, not a parameter.
    const reader = await connection.runAndReadAll(`SELECT json_serialize_sql(${quoteString(sql)})`);
    const tree = JSON.parse(String(reader.getRows()[0][0])) as { statements?: Array<{ node?: { type?: string; select_list?: SelectListEntry[] } }> };
    const list = tree.statements?.[0]?.node?.type === 'SELECT_NODE' ? tree.statements[0].node.select_list : undefined;
    if (!list) return asIs;
    if (list.some((e) => e.class === 'STAR' || e.class === 'COLUMNS')) return { names: duckdbNames, readsColumn: [...duckdbNames] };
    if (list.length !== duckdbNames.length) return asIs;
    return {
      names: duckdbNames.map((name, i) => (list[i].alias === '' && list[i].class !== 'COLUMN_REF' ? `_col${i}` : name)),
      readsColumn: list.map((e) => (e.class === 'COLUMN_REF' ? e.column_names?.at(-1)?.toLowerCase() : undefined)),
    };
  } catch {
    return asIs;
  }
}

/**
 * Declared Trino types DuckDB does not keep (varchar(25): DuckDB's VARCHAR has no length), by demo
 * column name, for the names that have one such type in every demo table.
 */
const DECLARED_TYPES: ReadonlyMap<string, string> = (() => {
  const byName = new Map<string, Set<string>>();
  for (const c of DEMO_TABLES.flatMap((t) => t.columns)) byName.set(c.name, (byName.get(c.name) ?? new Set()).add(c.trinoType));
  return new Map([...byName].filter(([, types]) => types.size === 1 && /^varchar\(\d+\)$/.test([...types][0])).map(([name, types]) => [name, [...types][0]]));
})();

export class DemoSqlEngine {
  private constructor(private readonly instance: DuckDBInstance) {}

  /** An in-memory DuckDB with every demo table loaded, then locked down. */
  static async create(): Promise<DemoSqlEngine> {
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    const connection = await instance.connect();
    try {
      for (const catalog of ENGINE_CATALOGS) await connection.run(`ATTACH ':memory:' AS ${quoteIdent(catalog)}`);
      for (const t of DEMO_TABLES) {
        const schema = `${quoteIdent(t.catalog)}.${quoteIdent(t.schema)}`;
        const table = `${schema}.${quoteIdent(t.table)}`;
        await connection.run(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        await connection.run(`CREATE TABLE ${table} (${t.columns.map((c) => `${quoteIdent(c.name)} ${c.duckdbType}`).join(', ')})`);
        const insert = `INSERT INTO ${table} VALUES (${t.columns.map((_, i) => `$${i + 1}`).join(', ')})`;
        for (const row of t.rows) await connection.run(insert, row as Array<string | number>);
      }
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
    } finally {
      connection.closeSync();
    }
    return new DemoSqlEngine(instance);
  }

  /**
   * Runs one query in `session`: its result with Trino's column names and types and values in
   * Trino's JSON form, or a TrinoFailure (parse and semantic errors as Trino names them).
   */
  async query(sql: string, session: EngineSession): Promise<EngineResult> {
    const text = withSessionValues(sql, session);
    const connection = await this.instance.connect();
    const timer = setTimeout(() => connection.interrupt(), ENGINE_TIMEOUT_MS);
    try {
      if (session.catalog !== undefined) {
        const target = session.schema !== undefined ? `${quoteIdent(session.catalog)}.${quoteIdent(session.schema)}` : quoteIdent(session.catalog);
        await connection.run(`USE ${target}`).catch(() => {
          throw failureAt(sql, 0, 'SCHEMA_NOT_FOUND', `Schema '${session.catalog}.${session.schema}' does not exist`);
        });
      }
      const extracted = await connection.extractStatements(text);
      if (extracted.count !== 1) {
        throw failureAt(sql, 0, 'SYNTAX_ERROR', `the sandbox runs exactly one statement per query (got ${extracted.count})`, 'io.trino.sql.parser.ParsingException');
      }
      const prepared = await extracted.prepare(0);
      if (prepared.statementType !== StatementType.SELECT) {
        throw failureAt(sql, 0, 'NOT_SUPPORTED', 'the sandbox Trino answers queries only (SELECT, WITH, VALUES, TABLE)');
      }
      const result = await prepared.stream();
      const types: DuckDBType[] = result.columnTypes();
      const rows: unknown[][] = [];
      for await (const batch of result.yieldRowsJson()) {
        for (const row of batch) rows.push(row.map((v, i) => trinoValue(v, types[i])));
        if (rows.length > MAX_ENGINE_ROWS) {
          throw failureAt(sql, 0, 'NOT_SUPPORTED', `the sandbox Trino returns at most ${MAX_ENGINE_ROWS} rows per query; add a LIMIT`);
        }
      }
      const { names, readsColumn } = await trinoColumnNames(connection, text, result.columnNames());
      const columns = names.map((name, i) => {
        const declared = types[i].typeId === DuckDBTypeId.VARCHAR && readsColumn[i] !== undefined ? DECLARED_TYPES.get(readsColumn[i]) : undefined;
        return declared ? column(name, declared) : trinoColumn(name, types[i]);
      });
      return { columns, rows };
    } catch (err) {
      if (err instanceof TrinoFailure) throw err;
      throw failureFromDuckdb(err, text, session);
    } finally {
      clearTimeout(timer);
      connection.closeSync();
    }
  }

  close(): void {
    this.instance.closeSync();
  }
}
