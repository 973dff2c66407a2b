/** The parser of the statements the coordinator answers itself (SHOW, USE, SET SESSION, PREPARE, transactions, simple SELECTs). */
import { STATEMENT_KEYWORDS, TrinoFailure, syntaxError } from './errors';
import { CLAUSE_KEYWORDS, KNOWN_FIRST_KEYWORDS, likeToRegExp, RESERVED_AFTER_ITEM, type Expr, type Ident, type QName, type SelectItem, type Stmt } from './sql-ast';
import { tokenize, type Tok } from './sql-lexer';
export class Parser {
  private i: number;

  constructor(
    private readonly sql: string,
    private readonly toks: Tok[],
    start = 0,
  ) {
    this.i = start;
  }

  private peek(offset = 0): Tok {
    return this.toks[Math.min(this.i + offset, this.toks.length - 1)];
  }

  private next(): Tok {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private isKw(kw: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'ident' && t.text.toUpperCase() === kw;
  }

  private acceptKw(kw: string): boolean {
    if (this.isKw(kw)) {
      this.i++;
      return true;
    }
    return false;
  }

  private isSym(s: string): boolean {
    const t = this.peek();
    return t.kind === 'sym' && t.text === s;
  }

  private mismatch(expecting: string): TrinoFailure {
    const t = this.peek();
    return syntaxError(this.sql, t.pos, `mismatched input '${t.text}'. Expecting: ${expecting}`);
  }

  private expectKw(kw: string): void {
    if (!this.acceptKw(kw)) throw this.mismatch(`'${kw}'`);
  }

  private expectEnd(expecting = '<EOF>'): void {
    if (this.peek().kind !== 'eof') throw this.mismatch(expecting);
  }

  private identifier(): Ident {
    const t = this.peek();
    if (t.kind === 'ident' || t.kind === 'qident') {
      this.i++;
      return { name: t.kind === 'ident' ? t.value : t.value.toLowerCase(), pos: t.pos };
    }
    throw this.mismatch('<identifier>');
  }

  private qualifiedName(): QName {
    const first = this.identifier();
    const parts = [first];
    while (this.isSym('.')) {
      this.i++;
      parts.push(this.identifier());
    }
    return { parts, pos: first.pos };
  }

  private likeClause(): RegExp | undefined {
    if (!this.acceptKw('LIKE')) return undefined;
    const p = this.peek();
    if (p.kind !== 'string') throw this.mismatch('<string>');
    this.i++;
    let escape: string | undefined;
    if (this.acceptKw('ESCAPE')) {
      const e = this.peek();
      if (e.kind !== 'string') throw this.mismatch('<string>');
      this.i++;
      escape = e.value;
    }
    return likeToRegExp(p.value, escape);
  }

  private restIsUnsupported(what: string): Stmt {
    return { kind: 'unsupported', what, pos: this.peek().pos };
  }

  parseStatement(): Stmt {
    const first = this.peek();
    if (first.kind !== 'ident' || !KNOWN_FIRST_KEYWORDS.has(first.text.toUpperCase())) {
      if (first.kind === 'sym' && first.text === '(') return this.restIsUnsupported('parenthesized queries');
      throw this.mismatch(STATEMENT_KEYWORDS);
    }
    const kw = first.text.toUpperCase();
    switch (kw) {
      case 'SELECT':
        return this.parseSelect();
      case 'SHOW':
        return this.parseShow();
      case 'DESCRIBE':
      case 'DESC': {
        this.i++;
        if (this.isKw('INPUT') || this.isKw('OUTPUT')) return this.restIsUnsupported(`DESCRIBE ${this.peek().text.toUpperCase()}`);
        const table = this.qualifiedName();
        this.expectEnd();
        return { kind: 'showColumns', table };
      }
      case 'USE': {
        this.i++;
        const name = this.qualifiedName();
        if (name.parts.length > 2) {
          throw syntaxError(this.sql, name.parts[2].pos - 1, `mismatched input '.'. Expecting: <EOF>`);
        }
        this.expectEnd();
        return name.parts.length === 2
          ? { kind: 'use', catalog: name.parts[0], schema: name.parts[1], pos: first.pos }
          : { kind: 'use', schema: name.parts[0], pos: first.pos };
      }
      case 'SET':
        return this.parseSet();
      case 'RESET': {
        this.i++;
        if (!this.acceptKw('SESSION')) return this.restIsUnsupported(`RESET ${this.peek().text.toUpperCase()}`);
        if (this.isKw('AUTHORIZATION')) return this.restIsUnsupported('RESET SESSION AUTHORIZATION');
        const name = this.qualifiedName();
        this.expectEnd();
        return { kind: 'resetSession', name: name.parts.map((p) => p.name).join('.') };
      }
      case 'PREPARE': {
        this.i++;
        const name = this.identifier();
        this.expectKw('FROM');
        const innerStart = this.i;
        const innerTok = this.peek();
        new Parser(this.sql, this.toks, innerStart).parseStatement();
        return { kind: 'prepare', name: name.name, sql: this.sql.slice(innerTok.pos).trim() };
      }
      case 'DEALLOCATE': {
        this.i++;
        this.expectKw('PREPARE');
        const name = this.identifier();
        this.expectEnd();
        return { kind: 'deallocate', name: name.name, pos: first.pos };
      }
      case 'EXECUTE': {
        this.i++;
        const name = this.identifier();
        if (this.acceptKw('USING')) {
          // Parameters are accepted and ignored (the sandbox does not support '?' placeholders).
          while (this.peek().kind !== 'eof') this.i++;
        }
        this.expectEnd();
        return { kind: 'execute', name: name.name, pos: first.pos };
      }
      case 'START': {
        this.i++;
        this.expectKw('TRANSACTION');
        // Transaction modes (ISOLATION LEVEL ..., READ ONLY/WRITE) are accepted as is.
        while (this.peek().kind !== 'eof') this.i++;
        return { kind: 'startTransaction', pos: first.pos };
      }
      case 'COMMIT':
      case 'ROLLBACK': {
        this.i++;
        this.acceptKw('WORK');
        this.expectEnd();
        return kw === 'COMMIT' ? { kind: 'commit', pos: first.pos } : { kind: 'rollback', pos: first.pos };
      }
      default:
        return { kind: 'unsupported', what: kw, pos: first.pos };
    }
  }

  private parseShow(): Stmt {
    const show = this.next();
    const what = this.peek();
    const word = what.kind === 'ident' ? what.text.toUpperCase() : '';
    switch (word) {
      case 'CATALOGS': {
        this.i++;
        const like = this.likeClause();
        this.expectEnd();
        return { kind: 'showCatalogs', like };
      }
      case 'SCHEMAS': {
        this.i++;
        let catalog: Ident | undefined;
        if (this.acceptKw('FROM') || this.acceptKw('IN')) catalog = this.identifier();
        const like = this.likeClause();
        this.expectEnd();
        return { kind: 'showSchemas', catalog, like, pos: show.pos };
      }
      case 'TABLES': {
        this.i++;
        let schema: QName | undefined;
        if (this.acceptKw('FROM') || this.acceptKw('IN')) schema = this.qualifiedName();
        const like = this.likeClause();
        this.expectEnd();
        return { kind: 'showTables', schema, like, pos: show.pos };
      }
      case 'COLUMNS': {
        this.i++;
        if (!this.acceptKw('FROM') && !this.acceptKw('IN')) throw this.mismatch("'FROM', 'IN'");
        const table = this.qualifiedName();
        this.expectEnd();
        return { kind: 'showColumns', table };
      }
      case 'SESSION': {
        this.i++;
        const like = this.likeClause();
        this.expectEnd();
        return { kind: 'showSession', like };
      }
      case 'BRANCHES':
      case 'CREATE':
      case 'CURRENT':
      case 'FUNCTIONS':
      case 'GRANTS':
      case 'ROLES':
      case 'ROLE':
      case 'STATS':
        return { kind: 'unsupported', what: `SHOW ${word}`, pos: show.pos };
      default:
        throw this.mismatch(
          "'BRANCHES', 'CATALOGS', 'COLUMNS', 'CREATE', 'CURRENT', 'FUNCTIONS', 'GRANTS', 'ROLE', 'ROLES', 'SCHEMAS', 'SESSION', 'STATS', 'TABLES'",
        );
    }
  }

  private parseSet(): Stmt {
    const set = this.next();
    if (!this.acceptKw('SESSION')) {
      return { kind: 'unsupported', what: `SET ${this.peek().text.toUpperCase()}`, pos: set.pos };
    }
    if (this.isKw('AUTHORIZATION')) return { kind: 'unsupported', what: 'SET SESSION AUTHORIZATION', pos: set.pos };
    const name = this.qualifiedName();
    if (name.parts.length > 2) {
      throw syntaxError(this.sql, name.parts[2].pos - 1, `mismatched input '.'. Expecting: '='`);
    }
    if (!this.isSym('=')) throw this.mismatch("'.', '='");
    this.i++;
    const expr = this.primary();
    this.expectEnd();
    if (expr.kind !== 'literal') {
      return { kind: 'unsupported', what: 'SET SESSION with a non-literal value', pos: expr.pos };
    }
    const value = expr.value === null ? 'null' : String(expr.value);
    return { kind: 'setSession', name: name.parts.map((p) => p.name).join('.'), value };
  }

  private primary(): Expr {
    const t = this.peek();
    if (t.kind === 'sym' && t.text === '-' && this.peek(1).kind === 'number') {
      this.i++;
      const num = this.primary();
      if (num.kind === 'literal' && typeof num.value === 'number') return { ...num, value: -num.value, pos: t.pos };
      if (num.kind === 'literal' && typeof num.value === 'string') return { ...num, value: '-' + num.value, pos: t.pos };
      return num;
    }
    if (t.kind === 'number') {
      this.i++;
      if (/[eE]/.test(t.text)) return { kind: 'literal', type: 'double', value: Number(t.text), pos: t.pos };
      if (t.text.includes('.')) {
        const [intPart, frac] = t.text.split('.');
        const digits = (intPart.replace(/^0+/, '') + frac).length || 1;
        const scale = frac.length;
        return { kind: 'literal', type: `decimal(${Math.max(digits, scale, 1)},${scale})`, value: t.text.startsWith('.') ? '0' + t.text : t.text, pos: t.pos };
      }
      const v = Number(t.text);
      return { kind: 'literal', type: Math.abs(v) <= 2147483647 ? 'integer' : 'bigint', value: v, pos: t.pos };
    }
    if (t.kind === 'string') {
      this.i++;
      return { kind: 'literal', type: `varchar(${[...t.value].length})`, value: t.value, pos: t.pos };
    }
    if (t.kind === 'qident') {
      this.i++;
      return { kind: 'ident', name: t.value.toLowerCase(), pos: t.pos };
    }
    if (t.kind === 'ident') {
      const up = t.text.toUpperCase();
      if (up === 'TRUE' || up === 'FALSE') {
        this.i++;
        return { kind: 'literal', type: 'boolean', value: up === 'TRUE', pos: t.pos };
      }
      if (up === 'NULL') {
        this.i++;
        return { kind: 'literal', type: 'unknown', value: null, pos: t.pos };
      }
      if (up === 'CURRENT_USER' || up === 'CURRENT_CATALOG' || up === 'CURRENT_SCHEMA' || up === 'CURRENT_TIMESTAMP') {
        this.i++;
        return { kind: 'special', name: t.value as 'current_user' | 'current_catalog' | 'current_schema' | 'current_timestamp', pos: t.pos };
      }
      if (RESERVED_AFTER_ITEM.has(up) || up === 'SELECT') throw this.mismatch('<expression>');
      this.i++;
      if (this.isSym('(')) {
        this.i++;
        let star = false;
        const args: Expr[] = [];
        if (this.isSym('*')) {
          this.i++;
          star = true;
        } else if (!this.isSym(')')) {
          args.push(this.primary());
          while (this.isSym(',')) {
            this.i++;
            args.push(this.primary());
          }
        }
        if (!this.isSym(')')) throw this.mismatch("')', ','");
        this.i++;
        return { kind: 'func', name: t.value, star, args, pos: t.pos };
      }
      return { kind: 'ident', name: t.value, pos: t.pos };
    }
    throw this.mismatch('<expression>');
  }

  private parseSelect(): Stmt {
    this.next();
    if (this.isKw('DISTINCT') || this.isKw('ALL')) return this.restIsUnsupported('SELECT DISTINCT/ALL');
    const items: SelectItem[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'sym' && t.text === '*') {
        this.i++;
        items.push({ kind: 'star', pos: t.pos });
      } else {
        const expr = this.primary();
        const after = this.peek();
        if (after.kind === 'sym' && !['*', ',', ';', ')', '('].includes(after.text)) {
          return { kind: 'unsupported', what: `operator '${after.text}'`, pos: after.pos };
        }
        if (after.kind === 'sym' && after.text === '*') return { kind: 'unsupported', what: "operator '*'", pos: after.pos };
        let alias: string | undefined;
        if (this.acceptKw('AS')) {
          alias = this.identifier().name;
        } else if ((after.kind === 'ident' && !RESERVED_AFTER_ITEM.has(after.text.toUpperCase())) || after.kind === 'qident') {
          alias = this.identifier().name;
        }
        items.push({ kind: 'expr', expr, alias, pos: t.pos });
      }
      if (this.isSym(',')) {
        this.i++;
        continue;
      }
      break;
    }
    let from: QName | undefined;
    if (this.acceptKw('FROM')) {
      if (this.isSym('(') || this.isKw('TABLE') || this.isKw('UNNEST') || this.isKw('LATERAL')) {
        return this.restIsUnsupported('subqueries and table functions');
      }
      from = this.qualifiedName();
      const t = this.peek();
      if (t.kind === 'ident' && !CLAUSE_KEYWORDS.has(t.text.toUpperCase()) && t.text.toUpperCase() !== 'LIMIT') {
        return this.restIsUnsupported('table aliases');
      }
      if (t.kind === 'sym' && t.text === ',') return this.restIsUnsupported('joins');
    }
    const t = this.peek();
    if (t.kind === 'ident' && CLAUSE_KEYWORDS.has(t.text.toUpperCase())) {
      return this.restIsUnsupported(t.text.toUpperCase());
    }
    let limit: number | undefined;
    if (this.acceptKw('LIMIT')) {
      const l = this.peek();
      if (l.kind === 'number' && /^\d+$/.test(l.text)) {
        this.i++;
        limit = Number(l.text);
      } else if (!this.acceptKw('ALL')) {
        throw this.mismatch("'ALL', <integer>");
      }
    }
    this.expectEnd(from ? "',', '.', 'LIMIT', <EOF>" : "',', 'AS', 'FROM', 'LIMIT', <EOF>");
    return { kind: 'select', items, from, limit };
  }
}

export function parseSql(sql: string): Stmt {
  return new Parser(sql, tokenize(sql)).parseStatement();
}

export function queryTypeOf(stmt: Stmt): string {
  switch (stmt.kind) {
    case 'select':
    case 'execute':
      return 'SELECT';
    case 'showCatalogs':
    case 'showSchemas':
    case 'showTables':
    case 'showColumns':
    case 'showSession':
      return 'DESCRIBE';
    default:
      return 'DATA_DEFINITION';
  }
}
