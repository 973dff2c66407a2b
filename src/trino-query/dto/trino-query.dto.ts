import { EXAMPLE_QUERY_ID } from '../../common/openapi-examples';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsNotEmpty, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { IsOptionalNotNull } from '../../common/optional';
import { ProblemDto } from '../../common/problem.dto';
import { TrinoColumnDto, TrinoQueryErrorDto } from './query-results.dto';

/** Rows returned when the request names no maxRows. */
export const DEFAULT_MAX_ROWS = 1000;
/** The most rows POST /trino/query ever returns: more is refused (400), the rest of a result is cut. */
export const MAX_ROWS_CAP = 10000;
/** Trino's own limit on the SQL text (query.max-length). */
export const MAX_SQL_LENGTH = 1_000_000;
const CATALOG_OR_SCHEMA = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$/;

/** POST /trino/query: one statement, run to completion (or to maxRows). */
export class TrinoQueryRequestDto {
  @ApiProperty({ example: 'SELECT nationkey, name FROM nation ORDER BY nationkey', maxLength: MAX_SQL_LENGTH })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_SQL_LENGTH)
  sql!: string;

  @ApiPropertyOptional({ example: 'tpch', description: 'Session catalog (X-Trino-Catalog)' })
  @IsOptionalNotNull()
  @IsString()
  @Matches(CATALOG_OR_SCHEMA, { message: 'catalog must be a catalog name (letters, digits, _ and -)' })
  catalog?: string;

  @ApiPropertyOptional({ example: 'tiny', description: 'Session schema (X-Trino-Schema); needs catalog' })
  @IsOptionalNotNull()
  @IsString()
  @Matches(CATALOG_OR_SCHEMA, { message: 'schema must be a schema name (letters, digits, _ and -)' })
  schema?: string;

  @ApiPropertyOptional({
    example: 100,
    default: DEFAULT_MAX_ROWS,
    minimum: 1,
    maximum: MAX_ROWS_CAP,
    description: 'Rows to return at most; the rest is cut and the query cancelled',
  })
  @IsOptionalNotNull()
  @IsInt()
  @Min(1)
  @Max(MAX_ROWS_CAP)
  maxRows?: number;
}

/** Where the query ended, from Trino's last StatementStats. */
export class TrinoQueryStatsDto {
  @ApiProperty({ example: 'FINISHED', description: 'Trino state at the last page read (RUNNING when the result was cut at maxRows)' })
  state!: string;
  @ApiProperty({ example: 3 }) queuedTimeMillis!: number;
  @ApiProperty({ example: 55 }) elapsedTimeMillis!: number;
  @ApiProperty({ example: 12 }) cpuTimeMillis!: number;
  @ApiProperty({ example: 25 }) processedRows!: number;
  @ApiProperty({ example: 2171 }) processedBytes!: number;
  @ApiProperty({ example: 0 }) peakMemoryBytes!: number;
}

/** POST /trino/query answer. */
export class TrinoQueryResultDto {
  @ApiProperty({ example: EXAMPLE_QUERY_ID, description: 'Trino query id (GET /v1/query/{queryId} gives its details)' })
  queryId!: string;
  @ApiProperty({
    type: [TrinoColumnDto],
    example: [
      { name: 'nationkey', type: 'bigint' },
      { name: 'name', type: 'varchar(25)' },
    ],
  })
  columns!: TrinoColumnDto[];
  @ApiProperty({
    example: [
      [0, 'ALGERIA'],
      [1, 'ARGENTINA'],
    ],
    type: 'array',
    items: { type: 'array', items: {} },
  })
  rows!: unknown[][];
  @ApiProperty({ example: false, description: 'True when the result had more than maxRows rows (the query was then cancelled)' })
  truncated!: boolean;
  @ApiProperty({ type: TrinoQueryStatsDto })
  stats!: TrinoQueryStatsDto;
  @ApiPropertyOptional({ example: 'USE', description: 'For statements that change something instead of returning rows' })
  updateType?: string;
  @ApiPropertyOptional({ example: 0 })
  updateCount?: number;
}

/**
 * An error of POST /trino/query: a query Trino failed carries Trino's error object as the coordinator
 * sent it (`upstream_error`); the BFF's own refusals of the same statuses (`validation_failed`, …) do not.
 */
export class TrinoQueryFailedDto extends ProblemDto {
  @ApiPropertyOptional({ type: TrinoQueryErrorDto, description: "Trino's error object: present when the query failed in Trino (reason upstream_error)" })
  error?: TrinoQueryErrorDto;
  @ApiPropertyOptional({ example: EXAMPLE_QUERY_ID }) queryId?: string;
}
