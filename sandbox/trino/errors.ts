/** Trino's query errors (io.trino.spi.StandardErrorCode) as the client protocol carries them, with their SQL location. */

export const ERROR_CODES = {
  GENERIC_USER_ERROR: 0,
  SYNTAX_ERROR: 1,
  ABANDONED_QUERY: 2,
  USER_CANCELED: 3,
  PERMISSION_DENIED: 4,
  NOT_FOUND: 5,
  FUNCTION_NOT_FOUND: 6,
  NOT_SUPPORTED: 13,
  INVALID_SESSION_PROPERTY: 14,
  UNKNOWN_TRANSACTION: 20,
  INCOMPATIBLE_CLIENT: 27,
  NOT_IN_TRANSACTION: 21,
  QUERY_TEXT_TOO_LARGE: 35,
  ADMINISTRATIVELY_KILLED: 38,
  CATALOG_NOT_FOUND: 44,
  SCHEMA_NOT_FOUND: 45,
  TABLE_NOT_FOUND: 46,
  COLUMN_NOT_FOUND: 47,
  MISSING_CATALOG_NAME: 56,
  MISSING_SCHEMA_NAME: 57,
  EXPRESSION_NOT_AGGREGATE: 73,
  GENERIC_INTERNAL_ERROR: 65536,
} as const;

export type ErrorName = keyof typeof ERROR_CODES;

export interface ErrorLocation {
  lineNumber: number;
  columnNumber: number;
}

export interface Failure {
  name: ErrorName;
  message: string;
  type: string;
  location?: ErrorLocation;
}

export class TrinoFailure extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

export function errorType(name: ErrorName): string {
  return ERROR_CODES[name] >= 65536 ? 'INTERNAL_ERROR' : 'USER_ERROR';
}

export function toQueryError(f: Failure): Record<string, unknown> {
  const failureInfo: Record<string, unknown> = { type: f.type, message: f.message, suppressed: [], stack: [] };
  if (f.location) failureInfo.errorLocation = f.location;
  const err: Record<string, unknown> = {
    message: f.message,
    errorCode: ERROR_CODES[f.name],
    errorName: f.name,
    errorType: errorType(f.name),
  };
  if (f.location) err.errorLocation = f.location;
  err.failureInfo = failureInfo;
  return err;
}

export const TRINO_EXCEPTION = 'io.trino.spi.TrinoException';
export const STATEMENT_KEYWORDS =
  "'ALTER', 'ANALYZE', 'CALL', 'COMMENT', 'COMMIT', 'CREATE', 'DEALLOCATE', 'DELETE', 'DENY', 'DESC', 'DESCRIBE', " +
  "'DROP', 'EXECUTE', 'EXPLAIN', 'GRANT', 'INSERT', 'MERGE', 'PREPARE', 'REFRESH', 'RESET', 'REVOKE', 'ROLLBACK', " +
  "'SET', 'SHOW', 'START', 'TRUNCATE', 'UPDATE', 'USE', 'WITH', <query>";

export function locationOf(sql: string, pos: number): ErrorLocation {
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < sql.length; i++) {
    if (sql[i] === '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  return { lineNumber: line, columnNumber: col };
}

export function failureAt(sql: string, pos: number, name: ErrorName, message: string, type = TRINO_EXCEPTION): TrinoFailure {
  const location = locationOf(sql, pos);
  return new TrinoFailure({ name, type, location, message: `line ${location.lineNumber}:${location.columnNumber}: ${message}` });
}

export function syntaxError(sql: string, pos: number, message: string): TrinoFailure {
  return failureAt(sql, pos, 'SYNTAX_ERROR', message, 'io.trino.sql.parser.ParsingException');
}
