/** The statements the coordinator answers itself, as the parser gives them. */
export interface Ident {
  name: string;
  pos: number;
}

export interface QName {
  parts: Ident[];
  pos: number;
}

export type Expr =
  | { kind: 'literal'; type: string; value: unknown; pos: number }
  | { kind: 'ident'; name: string; pos: number }
  | { kind: 'special'; name: 'current_user' | 'current_catalog' | 'current_schema' | 'current_timestamp'; pos: number }
  | { kind: 'func'; name: string; star: boolean; args: Expr[]; pos: number };

export type SelectItem = { kind: 'star'; pos: number } | { kind: 'expr'; expr: Expr; alias?: string; pos: number };

export type Stmt =
  | { kind: 'select'; items: SelectItem[]; from?: QName; limit?: number }
  | { kind: 'showCatalogs'; like?: RegExp }
  | { kind: 'showSchemas'; catalog?: Ident; like?: RegExp; pos: number }
  | { kind: 'showTables'; schema?: QName; like?: RegExp; pos: number }
  | { kind: 'showColumns'; table: QName }
  | { kind: 'showSession'; like?: RegExp }
  | { kind: 'use'; catalog?: Ident; schema: Ident; pos: number }
  | { kind: 'setSession'; name: string; value: string }
  | { kind: 'resetSession'; name: string }
  | { kind: 'prepare'; name: string; sql: string }
  | { kind: 'deallocate'; name: string; pos: number }
  | { kind: 'execute'; name: string; pos: number }
  | { kind: 'startTransaction'; pos: number }
  | { kind: 'commit'; pos: number }
  | { kind: 'rollback'; pos: number }
  | { kind: 'unsupported'; what: string; pos: number };

export const CLAUSE_KEYWORDS = new Set([
  'WHERE',
  'GROUP',
  'ORDER',
  'HAVING',
  'JOIN',
  'LEFT',
  'RIGHT',
  'INNER',
  'CROSS',
  'FULL',
  'NATURAL',
  'UNION',
  'EXCEPT',
  'INTERSECT',
  'OFFSET',
  'FETCH',
  'WINDOW',
  'TABLESAMPLE',
  'FOR',
]);
export const RESERVED_AFTER_ITEM = new Set(['FROM', 'LIMIT', 'AS', ...CLAUSE_KEYWORDS]);
export const KNOWN_FIRST_KEYWORDS = new Set([
  'ALTER',
  'ANALYZE',
  'CALL',
  'COMMENT',
  'COMMIT',
  'CREATE',
  'DEALLOCATE',
  'DELETE',
  'DENY',
  'DESC',
  'DESCRIBE',
  'DROP',
  'EXECUTE',
  'EXPLAIN',
  'GRANT',
  'INSERT',
  'MERGE',
  'PREPARE',
  'REFRESH',
  'RESET',
  'REVOKE',
  'ROLLBACK',
  'SET',
  'SHOW',
  'START',
  'TRUNCATE',
  'UPDATE',
  'USE',
  'WITH',
  'SELECT',
  'VALUES',
  'TABLE',
]);

export function likeToRegExp(pattern: string, escape?: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (escape !== undefined && c === escape && i + 1 < pattern.length) {
      re += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (c === '%') {
      re += '[\\s\\S]*';
    } else if (c === '_') {
      re += '[\\s\\S]';
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}
