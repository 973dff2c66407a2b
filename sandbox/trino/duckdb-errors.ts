/**
 * DuckDB's errors as Trino's query errors: the error name Trino would give (SYNTAX_ERROR,
 * TABLE_NOT_FOUND, COLUMN_NOT_FOUND, …), the location DuckDB points at (`LINE n:` and its caret),
 * and a message in Trino's `line L:C: …` form that keeps DuckDB's own wording where Trino's differs.
 */
import { TrinoFailure, failureAt, type ErrorName } from './errors';

/** Where the query's catalog and schema come from when a name is not qualified. */
export interface NameContext {
  catalog?: string;
  schema?: string;
}

/** The offset in `sql` that DuckDB's `LINE n: <text>` / caret lines point at, or undefined. */
export function duckdbErrorOffset(message: string, sql: string): number | undefined {
  const m = /\nLINE (\d+): (.*)\n( *)\^/.exec(message);
  if (!m) return undefined;
  const line = Number(m[1]);
  const shown = m[2];
  const caret = m[3].length - `LINE ${m[1]}: `.length;
  const lines = sql.split('\n');
  const text = lines[line - 1];
  if (text === undefined || caret < 0) return undefined;
  // DuckDB shortens long lines with a leading `...`: find the shown part in the line.
  const shownStart = shown.startsWith('...') ? text.indexOf(shown.slice(3).replace(/\.\.\.$/, '')) - 3 : 0;
  const column = Math.max(0, shownStart) + caret;
  let offset = 0;
  for (let i = 0; i < line - 1; i++) offset += lines[i].length + 1;
  return offset + Math.min(column, text.length);
}

/** The (possibly qualified, possibly quoted) name written at `offset`, parts unquoted. */
function nameAt(sql: string, offset: number): string[] | undefined {
  const m = /^(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)(?:\s*\.\s*(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*))*/.exec(sql.slice(offset));
  if (!m) return undefined;
  return m[0].split(/\s*\.\s*(?=(?:[^"]*"[^"]*")*[^"]*$)/).map((p) => (p.startsWith('"') ? p.slice(1, -1).replace(/""/g, '"') : p.toLowerCase()));
}

/** The first line of DuckDB's message, without its `X Error: ` prefix. */
const firstLine = (message: string): string => message.split('\n')[0].replace(/^[A-Za-z ]+ Error: /, '');

/** The Trino failure for an error DuckDB raised while parsing, binding or running `sql`. */
export function failureFromDuckdb(err: unknown, sql: string, names: NameContext): TrinoFailure {
  // Read by shape: under jest's vm sandbox the native binding's errors come from another realm.
  const raw = (err as { message?: unknown } | null)?.message;
  const message = (typeof raw === 'string' ? raw : String(err)).replace(/^Failed to (?:extract|prepare) statements?: /, '');
  const offset = duckdbErrorOffset(message, sql) ?? 0;
  const at = (name: ErrorName, text: string, type?: string) => failureAt(sql, offset, name, text, type);
  const detail = firstLine(message);

  if (/^Parser Error:/.test(message)) {
    return at('SYNTAX_ERROR', `${detail} (the sandbox answers SQL with DuckDB's parser)`, 'io.trino.sql.parser.ParsingException');
  }
  let m = /^Catalog Error: Table with name (.+?) does not exist/.exec(message);
  if (m) {
    const parts = nameAt(sql, offset) ?? [m[1]];
    const table = parts[parts.length - 1];
    const schema = parts.length >= 2 ? parts[parts.length - 2] : names.schema;
    const catalog = parts.length === 3 ? parts[0] : names.catalog;
    if (catalog === undefined) return at('MISSING_CATALOG_NAME', 'Catalog must be specified when session catalog is not set');
    if (schema === undefined) return at('MISSING_SCHEMA_NAME', 'Schema must be specified when session schema is not set');
    return at('TABLE_NOT_FOUND', `Table '${catalog}.${schema}.${table}' does not exist`);
  }
  m = /^Catalog Error: Schema with name (.+?) does not exist/.exec(message);
  if (m) return at('SCHEMA_NOT_FOUND', `Schema '${m[1]}' does not exist`);
  m = /^Binder Error: Catalog "(.+?)" does not exist/.exec(message);
  if (m) return at('CATALOG_NOT_FOUND', `Catalog '${m[1]}' not found`);
  m =
    /^Binder Error: Referenced column "?(.+?)"? not found/.exec(message) ?? /^Binder Error: Values list "(.+?)" does not have a column named "(.+?)"/.exec(message);
  if (m) return at('COLUMN_NOT_FOUND', `Column '${m[2] ?? m[1]}' cannot be resolved`);
  m = /^Catalog Error: (?:Scalar|Table|Aggregate) Function with name (.+?) does not exist/.exec(message);
  if (m) return at('FUNCTION_NOT_FOUND', `Function '${m[1]}' not registered`);
  if (/must appear in the GROUP BY clause|must be part of an aggregate/.test(message)) return at('EXPRESSION_NOT_AGGREGATE', detail);
  if (/^(Binder|Conversion|Invalid Input|Out of Range|Constraint|Catalog) Error:/.test(message)) return at('GENERIC_USER_ERROR', detail);
  if (/^(Permission Error|Not implemented Error)/.test(message)) return at('NOT_SUPPORTED', detail);
  return new TrinoFailure({ name: 'GENERIC_INTERNAL_ERROR', type: 'java.lang.RuntimeException', message: detail });
}
