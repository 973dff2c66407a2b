/**
 * DuckDB result types as Trino names them (the `type` and `typeSignature` of a result column), and
 * DuckDB values in the JSON form Trino's client protocol uses for that type.
 */
import { DuckDBTypeId, type DuckDBType } from '@duckdb/node-api';
import { UNBOUNDED_VARCHAR, type Column, type TypeSignature } from './columns';

interface TrinoType {
  /** Trino's display name, e.g. `array(row(a integer))`. */
  name: string;
  signature: TypeSignature;
}

const simple = (name: string): TrinoType => ({ name, signature: { rawType: name, arguments: [] } });
const withLongs = (raw: string, values: number[], display = `${raw}(${values.join(',')})`): TrinoType => ({
  name: display,
  signature: { rawType: raw, arguments: values.map((value) => ({ kind: 'LONG' as const, value })) },
});
const timestamp = (precision: number, tz: boolean): TrinoType =>
  withLongs(tz ? 'timestamp with time zone' : 'timestamp', [precision], `timestamp(${precision})${tz ? ' with time zone' : ''}`);

/** The Trino type of a DuckDB type: the closest type Trino has (DuckDB's unsigned and huge integers become wider types). */
export function trinoTypeOf(type: DuckDBType): TrinoType {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return simple('boolean');
    case DuckDBTypeId.TINYINT:
      return simple('tinyint');
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.UTINYINT:
      return simple('smallint');
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.USMALLINT:
      return simple('integer');
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UINTEGER:
      return simple('bigint');
    case DuckDBTypeId.UBIGINT:
      return withLongs('decimal', [20, 0]);
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return withLongs('decimal', [38, 0]);
    case DuckDBTypeId.FLOAT:
      return simple('real');
    case DuckDBTypeId.DOUBLE:
      return simple('double');
    case DuckDBTypeId.DECIMAL:
      return withLongs('decimal', [type.width, type.scale]);
    case DuckDBTypeId.VARCHAR:
    case DuckDBTypeId.ENUM:
    case DuckDBTypeId.STRING_LITERAL:
      if (type.alias === 'JSON') return simple('json');
      return { name: 'varchar', signature: { rawType: 'varchar', arguments: [{ kind: 'LONG', value: UNBOUNDED_VARCHAR }] } };
    case DuckDBTypeId.BLOB:
    case DuckDBTypeId.BIT:
      return simple('varbinary');
    case DuckDBTypeId.DATE:
      return simple('date');
    case DuckDBTypeId.TIME:
      return withLongs('time', [6]);
    case DuckDBTypeId.TIME_NS:
      return withLongs('time', [9]);
    case DuckDBTypeId.TIME_TZ:
      return withLongs('time with time zone', [6], 'time(6) with time zone');
    case DuckDBTypeId.TIMESTAMP_S:
      return timestamp(0, false);
    case DuckDBTypeId.TIMESTAMP_MS:
      return timestamp(3, false);
    case DuckDBTypeId.TIMESTAMP:
      return timestamp(6, false);
    case DuckDBTypeId.TIMESTAMP_NS:
      return timestamp(9, false);
    case DuckDBTypeId.TIMESTAMP_TZ:
      return timestamp(6, true);
    case DuckDBTypeId.INTERVAL:
      return simple('interval day to second');
    case DuckDBTypeId.UUID:
      return simple('uuid');
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const element = trinoTypeOf(type.valueType);
      return { name: `array(${element.name})`, signature: { rawType: 'array', arguments: [{ kind: 'TYPE', value: element.signature }] } };
    }
    case DuckDBTypeId.MAP: {
      const key = trinoTypeOf(type.keyType);
      const value = trinoTypeOf(type.valueType);
      return {
        name: `map(${key.name}, ${value.name})`,
        signature: {
          rawType: 'map',
          arguments: [
            { kind: 'TYPE', value: key.signature },
            { kind: 'TYPE', value: value.signature },
          ],
        },
      };
    }
    case DuckDBTypeId.STRUCT: {
      const fields = type.entryNames.map((name, i) => ({ name, type: trinoTypeOf(type.entryTypes[i]) }));
      return {
        name: `row(${fields.map((f) => `${f.name} ${f.type.name}`).join(', ')})`,
        signature: {
          rawType: 'row',
          arguments: fields.map((f) => ({ kind: 'NAMED_TYPE' as const, value: { fieldName: { name: f.name }, typeSignature: f.type.signature } })),
        },
      };
    }
    case DuckDBTypeId.SQLNULL:
      return simple('unknown');
    default:
      // UNION, GEOMETRY, VARIANT, ANY: no Trino counterpart; sent as their text.
      return { name: 'varchar', signature: { rawType: 'varchar', arguments: [{ kind: 'LONG', value: UNBOUNDED_VARCHAR }] } };
  }
}

/** A result column: the name the query gave it, the Trino type of its DuckDB type. */
export function trinoColumn(name: string, type: DuckDBType): Column {
  const t = trinoTypeOf(type);
  return { name, type: t.name, typeSignature: t.signature };
}

const NUMBER_TYPES = new Set<DuckDBTypeId>([
  DuckDBTypeId.TINYINT,
  DuckDBTypeId.SMALLINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UTINYINT,
  DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UINTEGER,
]);

/**
 * A value as Trino's client protocol writes it, from DuckDB's JSON form of it: integers up to bigint
 * as JSON numbers, decimals as strings, dates and timestamps as Trino's text (`2025-01-03`,
 * `2025-01-03 10:00:00.000000`), arrays as arrays, rows as arrays of their fields, maps as objects.
 */
export function trinoValue(value: unknown, type: DuckDBType): unknown {
  if (value === null || value === undefined) return null;
  if (NUMBER_TYPES.has(type.typeId)) return typeof value === 'string' ? Number(value) : value;
  switch (type.typeId) {
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP_TZ: {
      const precision = { [DuckDBTypeId.TIMESTAMP_S]: 0, [DuckDBTypeId.TIMESTAMP_MS]: 3, [DuckDBTypeId.TIMESTAMP_NS]: 9 }[type.typeId as number] ?? 6;
      return withFraction(String(value), precision);
    }
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
      return Array.isArray(value) ? value.map((v) => trinoValue(v, type.valueType)) : value;
    case DuckDBTypeId.STRUCT: {
      const record = value as Record<string, unknown>;
      return type.entryNames.map((name, i) => trinoValue(record[name], type.entryTypes[i]));
    }
    case DuckDBTypeId.MAP: {
      const entries = Array.isArray(value) ? (value as Array<{ key: unknown; value: unknown }>) : [];
      return Object.fromEntries(entries.map((e) => [String(trinoValue(e.key, type.keyType)), trinoValue(e.value, type.valueType)]));
    }
    default:
      return typeof value === 'object' ? JSON.stringify(value) : value;
  }
}

/** `2025-01-03 10:00:00` with exactly `precision` fraction digits (before any zone suffix). */
function withFraction(text: string, precision: number): string {
  const m = /^(\d{4,}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.(\d+))?(.*)$/.exec(text);
  if (!m) return text;
  const fraction = (m[2] ?? '').padEnd(precision, '0').slice(0, precision);
  const zone = m[3] === '+00' ? ' UTC' : m[3];
  return `${m[1].replace('T', ' ')}${precision > 0 ? `.${fraction}` : ''}${zone}`;
}
