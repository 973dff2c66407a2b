/**
 * The coordinator's catalogs: the demo tables (tpch, hive), the row generator (sandbox.gen), its live system tables
 * (system.runtime.queries shows a user only their own queries, as docker/trino's rules do) and information_schema.
 */
import { column, staticTable, type TableSource } from './columns';
import { DEMO_TABLES } from './demo-data';
import { failureAt } from './errors';
import type { QueryRecord } from './query-record';
import type { SessionInfo } from './session';
import type { QName } from './sql-ast';

export const TRINO_VERSION = '475';

export const demoTable = (catalog: string, schema: string, table: string): TableSource => {
  const t = DEMO_TABLES.find((d) => d.catalog === catalog && d.schema === schema && d.table === table)!;
  return staticTable(
    t.columns.map((c) => column(c.name, c.trinoType)),
    t.rows as unknown[][],
  );
};
export const nationTable = demoTable('tpch', 'tiny', 'nation');
export const regionTable = demoTable('tpch', 'tiny', 'region');
export const ordersTable = demoTable('hive', 'sales', 'orders');

export const MAX_GENERATED_ROWS = Number.MAX_SAFE_INTEGER;

export function generatorTable(n: number): TableSource {
  return {
    columns: [column('id', 'bigint'), column('label', 'varchar')],
    rowCount: n,
    row: (i) => [i + 1, `row-${i + 1}`],
  };
}

/** What the catalog reads from the running coordinator (its system tables). */
export interface LiveCoordinator {
  nodeId: string;
  baseUrl(): string;
  queries(): Iterable<QueryRecord>;
}

export class DemoCatalog {
  constructor(private readonly live: LiveCoordinator) {}

  catalogs(): string[] {
    return ['hive', 'sandbox', 'system', 'tpch'];
  }

  schemas(catalog: string): string[] | undefined {
    switch (catalog) {
      case 'tpch':
        return ['information_schema', 'sf1', 'tiny'];
      case 'hive':
        return ['information_schema', 'sales'];
      case 'sandbox':
        return ['gen', 'information_schema'];
      case 'system':
        return ['information_schema', 'metadata', 'runtime'];
      default:
        return undefined;
    }
  }

  /** Listed table names (the generator schema lists examples; any rows_<N>/sleep_<ms> name resolves). */
  tableNames(catalog: string, schema: string): string[] {
    if (schema === 'information_schema') return ['columns', 'schemata', 'tables'];
    const key = `${catalog}.${schema}`;
    switch (key) {
      case 'tpch.tiny':
      case 'tpch.sf1':
        return ['nation', 'region'];
      case 'hive.sales':
        return ['orders'];
      case 'sandbox.gen':
        return ['rows_10', 'rows_1000', 'rows_1000000', 'sleep_1000'];
      case 'system.metadata':
        return ['catalogs'];
      case 'system.runtime':
        return ['nodes', 'queries'];
      default:
        return [];
    }
  }

  /** `viewer`: the session user reading it (system.runtime.queries lists only their own queries). */
  table(catalog: string, schema: string, name: string, viewer?: string): (TableSource & { delayMs?: number }) | undefined {
    if (schema === 'information_schema') return this.informationSchema(catalog, name);
    const key = `${catalog}.${schema}`;
    if (key === 'tpch.tiny' || key === 'tpch.sf1') {
      if (name === 'nation') return nationTable;
      if (name === 'region') return regionTable;
      return undefined;
    }
    if (key === 'hive.sales') return name === 'orders' ? ordersTable : undefined;
    if (key === 'sandbox.gen') {
      let m = /^rows_(\d{1,16})$/.exec(name);
      if (m) {
        const n = Number(m[1]);
        return n <= MAX_GENERATED_ROWS ? generatorTable(n) : undefined;
      }
      m = /^sleep_(\d{1,9})$/.exec(name);
      if (m) {
        const ms = Number(m[1]);
        return { ...staticTable([column('slept_ms', 'bigint')], [[ms]]), delayMs: ms };
      }
      return undefined;
    }
    if (key === 'system.metadata' && name === 'catalogs') {
      return staticTable(
        [column('catalog_name', 'varchar'), column('connector_id', 'varchar'), column('connector_name', 'varchar')],
        this.catalogs().map((c) => [c, c, c === 'sandbox' ? 'sandbox-generator' : c]),
      );
    }
    if (key === 'system.runtime' && name === 'nodes') {
      return staticTable(
        [
          column('node_id', 'varchar'),
          column('http_uri', 'varchar'),
          column('node_version', 'varchar'),
          column('coordinator', 'boolean'),
          column('state', 'varchar'),
        ],
        [[this.live.nodeId, this.live.baseUrl(), TRINO_VERSION, true, 'active']],
      );
    }
    if (key === 'system.runtime' && name === 'queries') {
      return staticTable(
        [column('query_id', 'varchar'), column('state', 'varchar'), column('user', 'varchar'), column('source', 'varchar'), column('query', 'varchar')],
        // docker/trino/rules.json's query rule (execute only): a user views their own queries, no one else's.
        [...this.live.queries()].filter((q) => q.session.user === viewer).map((q) => [q.id, q.state, q.session.user, q.session.source ?? null, q.sql]),
      );
    }
    return undefined;
  }

  informationSchema(catalog: string, name: string): TableSource | undefined {
    const schemas = this.schemas(catalog) ?? [];
    if (name === 'schemata') {
      return staticTable(
        [column('catalog_name', 'varchar'), column('schema_name', 'varchar')],
        schemas.map((s) => [catalog, s]),
      );
    }
    if (name === 'tables') {
      const rows: unknown[][] = [];
      for (const s of schemas) for (const t of this.tableNames(catalog, s)) rows.push([catalog, s, t, 'BASE TABLE']);
      return staticTable(
        [column('table_catalog', 'varchar'), column('table_schema', 'varchar'), column('table_name', 'varchar'), column('table_type', 'varchar')],
        rows,
      );
    }
    if (name === 'columns') {
      const rows: unknown[][] = [];
      for (const s of schemas) {
        if (s === 'information_schema') continue;
        for (const t of this.tableNames(catalog, s)) {
          const src = this.table(catalog, s, t);
          src?.columns.forEach((c, i) => rows.push([catalog, s, t, c.name, i + 1, null, 'YES', c.type]));
        }
      }
      return staticTable(
        [
          column('table_catalog', 'varchar'),
          column('table_schema', 'varchar'),
          column('table_name', 'varchar'),
          column('column_name', 'varchar'),
          column('ordinal_position', 'bigint'),
          column('column_default', 'varchar'),
          column('is_nullable', 'varchar'),
          column('data_type', 'varchar'),
        ],
        rows,
      );
    }
    return undefined;
  }

  resolveTable(name: QName, session: SessionInfo, sql: string): { catalog: string; schema: string; table: string; source: TableSource & { delayMs?: number } } {
    const parts = name.parts.map((p) => p.name);
    if (parts.length > 3) throw failureAt(sql, name.pos, 'SYNTAX_ERROR', `Too many dots in table name: ${parts.join('.')}`);
    const table = parts[parts.length - 1];
    const schema = parts.length >= 2 ? parts[parts.length - 2] : session.schema;
    const catalog = parts.length === 3 ? parts[0] : session.catalog;
    if (catalog === undefined) throw failureAt(sql, name.pos, 'MISSING_CATALOG_NAME', 'Catalog must be specified when session catalog is not set');
    if (schema === undefined) throw failureAt(sql, name.pos, 'MISSING_SCHEMA_NAME', 'Schema must be specified when session schema is not set');
    const schemas = this.schemas(catalog);
    if (!schemas) throw failureAt(sql, name.pos, 'CATALOG_NOT_FOUND', `Catalog '${catalog}' not found`);
    if (!schemas.includes(schema)) throw failureAt(sql, name.pos, 'SCHEMA_NOT_FOUND', `Schema '${schema}' does not exist`);
    const source = this.table(catalog, schema, table, session.user);
    if (!source) throw failureAt(sql, name.pos, 'TABLE_NOT_FOUND', `Table '${catalog}.${schema}.${table}' does not exist`);
    return { catalog, schema, table, source };
  }
}
