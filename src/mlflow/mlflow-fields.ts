import { problem } from '../common/problem';

/**
 * The fields of an MLflow request message, as the endpoint table declares them (proto names,
 * snake_case), and the one way the proxy reads a request into them: every key must name a field,
 * no field may be given twice (two spellings, a duplicated JSON key, a repeated parameter of a
 * single-valued field), each value must have its field's type. What comes out is what the proxy
 * decides on and the only thing it forwards, rebuilt in the canonical spelling.
 */
export type FieldType =
  | { kind: 'string' | 'int' | 'double' | 'bool' }
  /** A protobuf map<string, string>: a JSON object of strings. */
  | { kind: 'map' }
  /** Data the BFF decides nothing on (google.protobuf.Value, an assessment's value): any JSON. */
  | { kind: 'json' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'message'; fields: MessageFields };

export interface FieldSpec {
  type: FieldType;
  repeated: boolean;
}

export type MessageFields = Readonly<Record<string, FieldSpec>>;

/**
 * How MLflow reads an endpoint's parameters: `proto` — a protobuf message (JSON body, or GET
 * parameters), where a field is spelled by its proto name or its lowerCamelCase JSON name;
 * `args` — a Flask handler reading `request.args` by name (the proto name only).
 */
export type Spelling = 'proto' | 'args';

/** A decided message: proto names only, values checked. */
export type Decided = Record<string, unknown>;

const one = (type: FieldType): FieldSpec => Object.freeze({ type, repeated: false });
export const field = {
  string: one({ kind: 'string' }),
  int: one({ kind: 'int' }),
  double: one({ kind: 'double' }),
  bool: one({ kind: 'bool' }),
  map: one({ kind: 'map' }),
  json: one({ kind: 'json' }),
  enumOf: (...values: string[]): FieldSpec => one({ kind: 'enum', values: Object.freeze(values) }),
  message: (fields: Record<string, FieldSpec>): FieldSpec => one({ kind: 'message', fields: Object.freeze(fields) }),
  list: (of: FieldSpec): FieldSpec => Object.freeze({ type: of.type, repeated: true }),
};

/** protobuf's JSON name of a field: `experiment_id` → `experimentId`. */
export function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const INT = /^-?[0-9]{1,19}$/;
const DOUBLE = /^(?:NaN|-?Infinity|-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)$/;

/** The field a key names, or undefined when it names none. */
function fieldOf(key: string, fields: MessageFields, spelling: Spelling): string | undefined {
  if (Object.hasOwn(fields, key)) return key;
  if (spelling === 'args') return undefined;
  return Object.keys(fields).find((name) => name !== key && jsonName(name) === key);
}

function refuse(where: string, message: string): never {
  const field = where.length > 100 ? `${where.slice(0, 100)}…` : where;
  throw problem.badRequest(`${field} ${message}`, [{ field, message }]);
}

function scalarFromJson(value: unknown, type: FieldType, where: string): unknown {
  switch (type.kind) {
    case 'string':
      if (typeof value !== 'string') refuse(where, 'must be a string');
      return value;
    case 'int':
      if (!(typeof value === 'number' && Number.isSafeInteger(value)) && !(typeof value === 'string' && INT.test(value))) refuse(where, 'must be an integer');
      return value;
    case 'double':
      if (typeof value !== 'number' && !(typeof value === 'string' && DOUBLE.test(value))) refuse(where, 'must be a number');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') refuse(where, 'must be true or false');
      return value;
    case 'enum':
      if (!(typeof value === 'string' && type.values.includes(value)) && !(typeof value === 'number' && Number.isInteger(value) && value >= 0))
        refuse(where, `must be one of ${type.values.join(', ')}`);
      return value;
    case 'map':
      if (!value || typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
        refuse(where, 'must be an object of strings');
      }
      return value;
    case 'json':
      return value;
    case 'message':
      if (!value || typeof value !== 'object' || Array.isArray(value)) refuse(where, 'must be an object');
      return decideMessage(value as Record<string, unknown>, type.fields, 'proto', `${where}.`);
  }
}

/**
 * A JSON request body (parsed without duplicate keys, see strict-json.ts) read into its fields.
 * A null value leaves the field unset, as protobuf's JSON mapping does.
 */
export function decideMessage(body: Record<string, unknown>, fields: MessageFields, spelling: Spelling, prefix = ''): Decided {
  const out: Decided = {};
  const spelledAs = new Map<string, string>();
  for (const [key, value] of Object.entries(body)) {
    const name = fieldOf(key, fields, spelling);
    if (name === undefined) refuse(`${prefix}${key}`, 'is not a field of this MLflow request');
    const earlier = spelledAs.get(name);
    if (earlier !== undefined) refuse(`${prefix}${name}`, `is given twice (${earlier} and ${key})`);
    spelledAs.set(name, key);
    if (value === null) continue;
    const spec = fields[name];
    const where = `${prefix}${name}`;
    if (spec.repeated) {
      if (!Array.isArray(value)) refuse(where, 'must be a list');
      out[name] = value.map((v, i) => scalarFromJson(v, spec.type, `${where}[${i}]`));
    } else {
      out[name] = scalarFromJson(value, spec.type, where);
    }
  }
  return out;
}

function scalarFromQuery(value: string, type: FieldType, where: string): string {
  switch (type.kind) {
    case 'string':
      return value;
    case 'int':
      if (!INT.test(value)) refuse(where, 'must be an integer');
      return value;
    case 'double':
      if (!DOUBLE.test(value)) refuse(where, 'must be a number');
      return value;
    case 'bool': {
      // MLflow reads a query's boolean without case (Python's requests sends True / False); forwarded in lower case.
      const lower = value.toLowerCase();
      if (lower !== 'true' && lower !== 'false') refuse(where, 'must be true or false');
      return lower;
    }
    case 'enum':
      if (!type.values.includes(value) && !/^[0-9]{1,9}$/.test(value)) refuse(where, `must be one of ${type.values.join(', ')}`);
      return value;
    case 'map':
    case 'json':
    case 'message':
      refuse(where, 'cannot be given as a query parameter');
  }
}

/**
 * GET (and HEAD, DELETE) parameters read into their fields: a repeated field takes the parameter
 * repeated under one spelling; a single-valued one takes it once.
 */
export function decideQuery(query: string, fields: MessageFields, spelling: Spelling): Decided {
  const out: Decided = {};
  const spelledAs = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(query)) {
    const name = fieldOf(key, fields, spelling);
    if (name === undefined) refuse(key, 'is not a parameter of this MLflow request');
    const spec = fields[name];
    const earlier = spelledAs.get(name);
    if (earlier !== undefined && (earlier !== key || !spec.repeated))
      refuse(name, earlier === key ? 'must be given once' : `is given twice (${earlier} and ${key})`);
    spelledAs.set(name, key);
    const checked = scalarFromQuery(value, spec.type, name);
    if (spec.repeated) out[name] = [...((out[name] as string[] | undefined) ?? []), checked];
    else out[name] = checked;
  }
  return out;
}

/** The query string MLflow gets: the decided parameters only, in their proto names. */
export function toQuery(decided: Decided): string {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(decided)) {
    for (const v of Array.isArray(value) ? value : [value]) q.append(name, String(v));
  }
  return q.toString();
}
