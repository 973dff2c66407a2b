import { EXAMPLE_QUERY_ID } from '../../common/openapi-examples';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** A result column as Trino describes it. */
export class TrinoColumnDto {
  @ApiProperty({ example: 'name' }) name!: string;
  @ApiProperty({ example: 'varchar(25)' }) type!: string;
  @ApiPropertyOptional({
    example: { rawType: 'varchar', arguments: [{ kind: 'LONG', value: 25 }] },
    description: 'Trino type signature (protocol answers only)',
    type: 'object',
    additionalProperties: true,
  })
  typeSignature?: Record<string, unknown>;
}

/** Where in the SQL text an error is. */
export class TrinoErrorLocationDto {
  @ApiProperty({ example: 1 }) lineNumber!: number;
  @ApiProperty({ example: 15 }) columnNumber!: number;
}

/** Trino's QueryError, passed through exactly as the coordinator sent it. */
export class TrinoQueryErrorDto {
  @ApiProperty({ example: "line 1:15: Table 'tpch.tiny.nope' does not exist" }) message!: string;
  @ApiPropertyOptional({ example: null, nullable: true, description: 'Never set by Trino (always null)' }) sqlState?: string | null;
  @ApiProperty({ example: 46 }) errorCode!: number;
  @ApiProperty({ example: 'TABLE_NOT_FOUND' }) errorName!: string;
  @ApiProperty({ example: 'USER_ERROR', enum: ['USER_ERROR', 'INTERNAL_ERROR', 'INSUFFICIENT_RESOURCES', 'EXTERNAL'] }) errorType!: string;
  @ApiPropertyOptional({ type: TrinoErrorLocationDto }) errorLocation?: TrinoErrorLocationDto;
  @ApiPropertyOptional({
    example: { type: 'io.trino.spi.TrinoException', message: "line 1:15: Table 'tpch.tiny.nope' does not exist", suppressed: [], stack: [] },
    type: 'object',
    additionalProperties: true,
  })
  failureInfo?: Record<string, unknown>;
}

/** Trino's StatementStats (a subset is listed; every field the coordinator sends is passed on). */
export class TrinoStatementStatsDto {
  @ApiProperty({
    example: 'RUNNING',
    enum: ['QUEUED', 'WAITING_FOR_RESOURCES', 'DISPATCHING', 'PLANNING', 'STARTING', 'RUNNING', 'FINISHING', 'FINISHED', 'FAILED'],
  })
  state!: string;
  @ApiPropertyOptional({ example: false }) queued?: boolean;
  @ApiPropertyOptional({ example: true }) scheduled?: boolean;
  @ApiPropertyOptional({ example: 1 }) nodes?: number;
  @ApiPropertyOptional({ example: 12 }) cpuTimeMillis?: number;
  @ApiPropertyOptional({ example: 48 }) wallTimeMillis?: number;
  @ApiPropertyOptional({ example: 3 }) queuedTimeMillis?: number;
  @ApiPropertyOptional({ example: 55 }) elapsedTimeMillis?: number;
  @ApiPropertyOptional({ example: 25 }) processedRows?: number;
  @ApiPropertyOptional({ example: 2171 }) processedBytes?: number;
  @ApiPropertyOptional({ example: 0 }) peakMemoryBytes?: number;
  @ApiPropertyOptional({ example: 100 }) progressPercentage?: number;
}

/**
 * Trino's QueryResults, the answer of POST /v1/statement and of every nextUri. The URIs point at the
 * BFF (PUBLIC_URL or the forwarded host), never at the coordinator.
 */
export class QueryResultsDto {
  @ApiProperty({ example: EXAMPLE_QUERY_ID }) id!: string;
  @ApiProperty({
    example: 'https://bff.example.com/ui/query.html?20250101_120000_00001_abcde',
    description: 'The query’s page in the Trino web UI, for humans: the BFF redirects it to TRINO_UI_URL (404 when unset)',
  })
  infoUri!: string;
  @ApiPropertyOptional({ example: 'https://bff.example.com/v1/statement/executing/partialCancel/20250101_120000_00001_abcde/0/y0c6c1f2e/1' })
  partialCancelUri?: string;
  @ApiPropertyOptional({
    example: 'https://bff.example.com/v1/statement/queued/20250101_120000_00001_abcde/y1a2b3c4d/1',
    description: 'Absent when the query is finished (or failed)',
  })
  nextUri?: string;
  @ApiPropertyOptional({ type: [TrinoColumnDto] }) columns?: TrinoColumnDto[];
  @ApiPropertyOptional({
    example: [
      [0, 'ALGERIA'],
      [1, 'ARGENTINA'],
    ],
    type: 'array',
    items: { type: 'array', items: {} },
  })
  data?: unknown[][];
  @ApiProperty({ type: TrinoStatementStatsDto }) stats!: TrinoStatementStatsDto;
  @ApiPropertyOptional({ type: TrinoQueryErrorDto, description: 'Set when the query failed (the HTTP status is still 200)' }) error?: TrinoQueryErrorDto;
  @ApiProperty({ example: [], type: 'array', items: { type: 'object', additionalProperties: true } }) warnings!: unknown[];
  @ApiPropertyOptional({ example: 'USE' }) updateType?: string;
  @ApiPropertyOptional({ example: 0 }) updateCount?: number;
}

export class TrinoNodeVersionDto {
  @ApiProperty({ example: '475' }) version!: string;
}

/** GET /v1/info. */
export class TrinoServerInfoDto {
  @ApiProperty({ type: TrinoNodeVersionDto }) nodeVersion!: TrinoNodeVersionDto;
  @ApiProperty({ example: 'production' }) environment!: string;
  @ApiProperty({ example: true }) coordinator!: boolean;
  @ApiProperty({ example: false }) starting!: boolean;
  @ApiPropertyOptional({ example: '5.00m' }) uptime?: string;
}

export class TrinoSessionDto {
  @ApiProperty({ example: 'alice' }) user!: string;
  @ApiPropertyOptional({ example: 'trino-js-client' }) source?: string;
  @ApiPropertyOptional({ example: 'tpch' }) catalog?: string;
  @ApiPropertyOptional({ example: 'tiny' }) schema?: string;
}

/** GET /v1/query/{queryId}: Trino's QueryInfo (main fields listed; the whole document is passed on). */
export class TrinoQueryInfoDto {
  @ApiProperty({ example: EXAMPLE_QUERY_ID }) queryId!: string;
  @ApiProperty({ example: 'FINISHED' }) state!: string;
  @ApiProperty({ example: 'SELECT * FROM tpch.tiny.nation' }) query!: string;
  @ApiProperty({ example: 'https://bff.example.com/v1/query/20250101_120000_00001_abcde' }) self!: string;
  @ApiProperty({ type: TrinoSessionDto }) session!: TrinoSessionDto;
  @ApiPropertyOptional({ example: 'SELECT' }) queryType?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { elapsedTime: '55.00ms', processedInputPositions: 25 } })
  queryStats?: Record<string, unknown>;
}
