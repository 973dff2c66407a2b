/** The SQL tokenizer of the statements the coordinator answers itself (the rest goes to DuckDB). */
import { syntaxError } from './errors';
export type TokKind = 'ident' | 'qident' | 'string' | 'number' | 'sym' | 'eof';

export interface Tok {
  kind: TokKind;
  /** Source text of the token. */
  text: string;
  /** Identifier (lower-cased unless quoted), unescaped string literal, or the text. */
  value: string;
  pos: number;
}

export function tokenize(sql: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < n && /[A-Za-z0-9_@$]/.test(sql[i])) i++;
      const text = sql.slice(start, i);
      toks.push({ kind: 'ident', text, value: text.toLowerCase(), pos: start });
      continue;
    }
    if (c === '"' || c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= n) {
          throw syntaxError(sql, start, `token recognition error at: '${sql.slice(start)}'`);
        }
        if (sql[i] === c) {
          if (sql[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += sql[i++];
      }
      toks.push({ kind: c === '"' ? 'qident' : 'string', text: sql.slice(start, i), value, pos: start });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      while (i < n && /[0-9]/.test(sql[i])) i++;
      if (sql[i] === '.') {
        i++;
        while (i < n && /[0-9]/.test(sql[i])) i++;
      }
      if ((sql[i] === 'e' || sql[i] === 'E') && /[-+0-9]/.test(sql[i + 1] ?? '')) {
        i++;
        if (sql[i] === '-' || sql[i] === '+') i++;
        while (i < n && /[0-9]/.test(sql[i])) i++;
      }
      const text = sql.slice(start, i);
      toks.push({ kind: 'number', text, value: text, pos: start });
      continue;
    }
    const two = sql.slice(i, i + 2);
    if (['<>', '!=', '<=', '>=', '||', '=>'].includes(two)) {
      toks.push({ kind: 'sym', text: two, value: two, pos: start });
      i += 2;
      continue;
    }
    if ('(),.;*=<>+-/%[]:?'.includes(c)) {
      toks.push({ kind: 'sym', text: c, value: c, pos: start });
      i++;
      continue;
    }
    throw syntaxError(sql, start, `token recognition error at: '${c}'`);
  }
  toks.push({ kind: 'eof', text: '<EOF>', value: '', pos: n });
  return toks;
}
