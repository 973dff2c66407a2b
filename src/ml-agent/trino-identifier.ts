import { applyDecorators } from '@nestjs/common';
import { IsString, Matches } from 'class-validator';

/**
 * The Trino identifiers the ML-Agent routes accept for catalogs, schemas and tables: plain
 * (unquoted) identifiers — a letter or underscore, then letters, digits or underscores, at most
 * 128 characters. They mean the same thing whether ML-Agent quotes them or writes them into SQL
 * as they are, and they need no escaping in a URL path. Anything else (quotes, dots, spaces,
 * dashes, `%`, non-ASCII...) is refused with 400 validation_failed before anything is forwarded.
 */
export const TRINO_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export const TRINO_IDENTIFIER_RULE = 'must be a plain Trino identifier: 1-128 letters, digits or underscores, not starting with a digit';

export const isTrinoIdentifier = (value: unknown): value is string => typeof value === 'string' && TRINO_IDENTIFIER.test(value);

/** class-validator rule of a DTO field (body or path parameter) holding a catalog, schema or table name. */
export function IsTrinoIdentifier(): PropertyDecorator {
  return applyDecorators(IsString({ message: '$property must be a string' }), Matches(TRINO_IDENTIFIER, { message: `$property ${TRINO_IDENTIFIER_RULE}` }));
}
