/** Plans the statements the coordinator answers itself over its catalog (SELECT over its live tables, SHOW, USE, SET SESSION, ...). */
import * as crypto from 'node:crypto';
import type { DemoCatalog } from './catalog';
import { TRINO_VERSION } from './catalog';
import { column, staticTable, type Column, type TableSource } from './columns';
import { TRINO_EXCEPTION, TrinoFailure, failureAt } from './errors';
import type { Effects, Outcome } from './query-record';
import { formatTimestamp, KNOWN_SESSION_PROPERTIES, type SessionInfo } from './session';
import type { Expr, Stmt } from './sql-ast';
import { parseSql } from './sql-parser';

export class Planner {
  constructor(private readonly catalog: DemoCatalog) {}

  private evalScalar(expr: Expr, session: SessionInfo, sql: string): { type: string; value: unknown } {
    switch (expr.kind) {
      case 'literal':
        return { type: expr.type, value: expr.value };
      case 'special':
        switch (expr.name) {
          case 'current_user':
            return { type: 'varchar', value: session.user };
          case 'current_catalog':
            return { type: 'varchar', value: session.catalog ?? null };
          case 'current_schema':
            return { type: 'varchar', value: session.schema ?? null };
          default:
            return { type: 'timestamp(3) with time zone', value: formatTimestamp(new Date()) };
        }
      case 'func':
        if (expr.name === 'version' && expr.args.length === 0 && !expr.star) return { type: 'varchar', value: TRINO_VERSION };
        if (expr.name === 'now' && expr.args.length === 0 && !expr.star) {
          return { type: 'timestamp(3) with time zone', value: formatTimestamp(new Date()) };
        }
        if (expr.name === 'count') throw failureAt(sql, expr.pos, 'NOT_SUPPORTED', 'count() is only supported as count(*) over a table by the sandbox coordinator');
        throw failureAt(sql, expr.pos, 'FUNCTION_NOT_FOUND', `Function '${expr.name}' not registered`);
      case 'ident':
        throw failureAt(sql, expr.pos, 'COLUMN_NOT_FOUND', `Column '${expr.name}' cannot be resolved`);
    }
  }

  plan(stmt: Stmt, session: SessionInfo, sql: string, depth = 0): Outcome {
    const rows = (queryType: string, columns: Column[], data: unknown[][]): Outcome => ({
      kind: 'rows',
      queryType,
      source: staticTable(columns, data),
      total: data.length,
    });
    const filter = (values: string[], like?: RegExp): string[] => values.filter((v) => !like || like.test(v)).sort();
    const update = (updateType: string, effects: Effects, queryType = 'DATA_DEFINITION'): Outcome => ({ kind: 'update', queryType, updateType, effects });

    switch (stmt.kind) {
      case 'select':
        return this.planSelect(stmt, session, sql);
      case 'showCatalogs':
        return rows(
          'DESCRIBE',
          [column('Catalog', 'varchar')],
          filter(this.catalog.catalogs(), stmt.like).map((c) => [c]),
        );
      case 'showSchemas': {
        const catalog = stmt.catalog?.name ?? session.catalog;
        const pos = stmt.catalog?.pos ?? stmt.pos;
        if (catalog === undefined) throw failureAt(sql, pos, 'MISSING_CATALOG_NAME', 'Catalog must be specified when session catalog is not set');
        const schemas = this.catalog.schemas(catalog);
        if (!schemas) throw failureAt(sql, pos, 'CATALOG_NOT_FOUND', `Catalog '${catalog}' not found`);
        return rows(
          'DESCRIBE',
          [column('Schema', 'varchar')],
          filter(schemas, stmt.like).map((s) => [s]),
        );
      }
      case 'showTables': {
        const parts = stmt.schema?.parts.map((p) => p.name) ?? [];
        const pos = stmt.schema?.pos ?? stmt.pos;
        if (parts.length > 2) throw failureAt(sql, pos, 'SYNTAX_ERROR', `Too many parts in schema name: ${parts.join('.')}`);
        const catalog = parts.length === 2 ? parts[0] : session.catalog;
        const schema = parts.length >= 1 ? parts[parts.length - 1] : session.schema;
        if (catalog === undefined) throw failureAt(sql, pos, 'MISSING_CATALOG_NAME', 'Catalog must be specified when session catalog is not set');
        if (schema === undefined) throw failureAt(sql, pos, 'MISSING_SCHEMA_NAME', 'Schema must be specified when session schema is not set');
        const schemas = this.catalog.schemas(catalog);
        if (!schemas) throw failureAt(sql, pos, 'CATALOG_NOT_FOUND', `Catalog '${catalog}' not found`);
        if (!schemas.includes(schema)) throw failureAt(sql, pos, 'SCHEMA_NOT_FOUND', `Schema '${schema}' does not exist`);
        return rows(
          'DESCRIBE',
          [column('Table', 'varchar')],
          filter(this.catalog.tableNames(catalog, schema), stmt.like).map((t) => [t]),
        );
      }
      case 'showColumns': {
        const { source } = this.catalog.resolveTable(stmt.table, session, sql);
        return rows(
          'DESCRIBE',
          [column('Column', 'varchar'), column('Type', 'varchar'), column('Extra', 'varchar'), column('Comment', 'varchar')],
          source.columns.map((c) => [c.name, c.type, '', '']),
        );
      }
      case 'showSession': {
        const data: unknown[][] = [];
        const seen = new Set<string>();
        for (const p of KNOWN_SESSION_PROPERTIES) {
          seen.add(p.name);
          data.push([p.name, session.systemProperties[p.name] ?? p.def, p.def, p.type, p.description]);
        }
        for (const [name, value] of Object.entries(session.systemProperties)) {
          if (!seen.has(name)) data.push([name, value, '', 'varchar', 'Set by the client (not validated by the sandbox coordinator)']);
        }
        for (const [cat, props] of Object.entries(session.catalogProperties)) {
          for (const [name, value] of Object.entries(props)) {
            data.push([`${cat}.${name}`, value, '', 'varchar', 'Set by the client (not validated by the sandbox coordinator)']);
          }
        }
        const filtered = data.filter((r) => !stmt.like || stmt.like.test(String(r[0])));
        filtered.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
        return rows(
          'DESCRIBE',
          [column('Name', 'varchar'), column('Value', 'varchar'), column('Default', 'varchar'), column('Type', 'varchar'), column('Description', 'varchar')],
          filtered,
        );
      }
      case 'use': {
        const catalog = stmt.catalog?.name ?? session.catalog;
        if (catalog === undefined) throw failureAt(sql, stmt.pos, 'MISSING_CATALOG_NAME', 'Catalog must be specified when session catalog is not set');
        const schemas = this.catalog.schemas(catalog);
        if (!schemas) throw failureAt(sql, stmt.catalog?.pos ?? stmt.pos, 'CATALOG_NOT_FOUND', `Catalog '${catalog}' not found`);
        if (!schemas.includes(stmt.schema.name)) {
          throw failureAt(sql, stmt.pos, 'SCHEMA_NOT_FOUND', `Schema does not exist: ${catalog}.${stmt.schema.name}`);
        }
        return update('USE', { setCatalog: catalog, setSchema: stmt.schema.name });
      }
      case 'setSession':
        return update('SET SESSION', { setSession: [stmt.name, stmt.value] });
      case 'resetSession':
        return update('RESET SESSION', { clearSession: stmt.name });
      case 'prepare':
        return update('PREPARE', { addedPrepare: [stmt.name, stmt.sql] });
      case 'deallocate':
        if (!Object.prototype.hasOwnProperty.call(session.preparedStatements, stmt.name)) {
          throw failureAt(sql, stmt.pos, 'NOT_FOUND', `Prepared statement not found: ${stmt.name}`);
        }
        return update('DEALLOCATE', { deallocatedPrepare: stmt.name });
      case 'execute': {
        const prepared = Object.prototype.hasOwnProperty.call(session.preparedStatements, stmt.name) ? session.preparedStatements[stmt.name] : undefined;
        if (prepared === undefined) throw failureAt(sql, stmt.pos, 'NOT_FOUND', `Prepared statement not found: ${stmt.name}`);
        if (depth > 0) throw failureAt(sql, stmt.pos, 'NOT_SUPPORTED', 'Invalid statement type for prepared statement: EXECUTE');
        return this.plan(parseSql(prepared), session, prepared, depth + 1);
      }
      case 'startTransaction':
        // StartTransactionTask: a client that did not send X-Trino-Transaction-Id (NONE) cannot take a transaction id back.
        if (!session.clientTransactionSupport)
          throw new TrinoFailure({ name: 'INCOMPATIBLE_CLIENT', type: TRINO_EXCEPTION, message: 'Client does not support transactions' });
        if (session.transactionId) throw failureAt(sql, stmt.pos, 'NOT_SUPPORTED', 'Nested transactions not supported');
        return update('START TRANSACTION', { startedTransactionId: crypto.randomUUID() }, 'DATA_DEFINITION');
      case 'commit':
      case 'rollback':
        if (!session.transactionId) throw failureAt(sql, stmt.pos, 'NOT_IN_TRANSACTION', 'No transaction in progress');
        return update(stmt.kind === 'commit' ? 'COMMIT' : 'ROLLBACK', { clearTransactionId: true });
      case 'unsupported':
        throw failureAt(sql, stmt.pos, 'NOT_SUPPORTED', `${stmt.what} is not supported by the sandbox Trino coordinator`);
    }
  }

  private planSelect(stmt: Extract<Stmt, { kind: 'select' }>, session: SessionInfo, sql: string): Outcome {
    const limitOf = (n: number): number => (stmt.limit === undefined ? n : Math.min(n, stmt.limit));
    if (!stmt.from) {
      const star = stmt.items.find((i) => i.kind === 'star');
      if (star) throw failureAt(sql, star.pos, 'GENERIC_USER_ERROR', 'SELECT * not allowed in queries without FROM clause');
      const columns: Column[] = [];
      const row: unknown[] = [];
      stmt.items.forEach((item, i) => {
        if (item.kind !== 'expr') return;
        const v = this.evalScalar(item.expr, session, sql);
        columns.push(column(item.alias ?? `_col${i}`, v.type));
        row.push(v.value);
      });
      const data = limitOf(1) === 1 ? [row] : [];
      return { kind: 'rows', queryType: 'SELECT', source: staticTable(columns, data), total: data.length };
    }

    const { source } = this.catalog.resolveTable(stmt.from, session, sql);
    const hasCount = stmt.items.some((i) => i.kind === 'expr' && i.expr.kind === 'func' && i.expr.name === 'count');
    if (hasCount) {
      const columns: Column[] = [];
      const row: unknown[] = [];
      stmt.items.forEach((item, i) => {
        if (item.kind === 'star') throw failureAt(sql, item.pos, 'EXPRESSION_NOT_AGGREGATE', "'*' must be an aggregate expression or appear in GROUP BY clause");
        const e = item.expr;
        if (e.kind === 'func' && e.name === 'count') {
          if (!e.star) throw failureAt(sql, e.pos, 'NOT_SUPPORTED', 'Only count(*) is supported by the sandbox Trino coordinator');
          columns.push(column(item.alias ?? `_col${i}`, 'bigint'));
          row.push(source.rowCount);
        } else if (e.kind === 'ident') {
          if (!source.columns.some((c) => c.name === e.name)) throw failureAt(sql, e.pos, 'COLUMN_NOT_FOUND', `Column '${e.name}' cannot be resolved`);
          throw failureAt(sql, e.pos, 'EXPRESSION_NOT_AGGREGATE', `'${e.name}' must be an aggregate expression or appear in GROUP BY clause`);
        } else {
          const v = this.evalScalar(e, session, sql);
          columns.push(column(item.alias ?? `_col${i}`, v.type));
          row.push(v.value);
        }
      });
      const data = limitOf(1) === 1 ? [row] : [];
      return { kind: 'rows', queryType: 'SELECT', source: staticTable(columns, data), total: data.length, delayMs: source.delayMs };
    }

    // Projection: each output column reads a source column index or is a constant.
    const columns: Column[] = [];
    const getters: Array<(r: unknown[]) => unknown> = [];
    stmt.items.forEach((item, i) => {
      if (item.kind === 'star') {
        source.columns.forEach((c, idx) => {
          columns.push(c);
          getters.push((r) => r[idx]);
        });
        return;
      }
      const e = item.expr;
      if (e.kind === 'ident') {
        const idx = source.columns.findIndex((c) => c.name === e.name);
        if (idx < 0) throw failureAt(sql, e.pos, 'COLUMN_NOT_FOUND', `Column '${e.name}' cannot be resolved`);
        columns.push(column(item.alias ?? source.columns[idx].name, source.columns[idx].type));
        getters.push((r) => r[idx]);
        return;
      }
      const v = this.evalScalar(e, session, sql);
      columns.push(column(item.alias ?? `_col${i}`, v.type));
      getters.push(() => v.value);
    });
    const projected: TableSource = {
      columns,
      rowCount: source.rowCount,
      row: (index) => {
        const r = source.row(index);
        return getters.map((g) => g(r));
      },
    };
    return { kind: 'rows', queryType: 'SELECT', source: projected, total: limitOf(source.rowCount), delayMs: source.delayMs };
  }
}
