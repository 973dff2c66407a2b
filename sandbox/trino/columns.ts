/** Result columns with Trino's type names and type signatures, and the row sources the coordinator pages through. */

/** Trino's ClientTypeSignature: a raw type and its arguments (LONG for lengths and precisions, TYPE / NAMED_TYPE for nested types). */
export interface TypeSignature {
  rawType: string;
  arguments: Array<
    | { kind: 'LONG'; value: number }
    | { kind: 'TYPE'; value: TypeSignature }
    | { kind: 'NAMED_TYPE'; value: { fieldName?: { name: string }; typeSignature: TypeSignature } }
  >;
}

export interface Column {
  name: string;
  type: string;
  typeSignature: TypeSignature;
}

export const UNBOUNDED_VARCHAR = 2147483647;

export function column(name: string, type: string): Column {
  let rawType = type;
  const args: TypeSignature['arguments'] = [];
  const m = /^([a-z ]+?)\(([\d, ]+)\)(.*)$/.exec(type);
  if (m) {
    rawType = (m[1] + m[3]).trim();
    for (const a of m[2].split(',')) args.push({ kind: 'LONG', value: Number(a.trim()) });
  } else if (type === 'varchar') {
    args.push({ kind: 'LONG', value: UNBOUNDED_VARCHAR });
  }
  return { name, type, typeSignature: { rawType, arguments: args } };
}

export interface TableSource {
  columns: Column[];
  rowCount: number;
  row(index: number): unknown[];
}

export function staticTable(columns: Column[], rows: unknown[][]): TableSource {
  return { columns, rowCount: rows.length, row: (i) => rows[i] };
}
