import { ApiProperty } from '@nestjs/swagger';

/** GET /chatbot/trino/catalogs: the catalogs the caller may see (ML-Agent runs SHOW CATALOGS as the caller). */
export class TrinoCatalogsDto {
  @ApiProperty({ type: [String], example: ['hive', 'sandbox', 'system', 'tpch'] })
  catalogs!: string[];
}

/** GET /chatbot/trino/schemas/:catalog: the schemas of a catalog the caller may see (SHOW SCHEMAS FROM catalog). */
export class TrinoSchemasDto {
  @ApiProperty({ type: [String], example: ['information_schema', 'sf1', 'tiny'] })
  schemas!: string[];
}

/** GET /chatbot/trino/tables/:catalog/:schema: the tables of a schema the caller may see (SHOW TABLES FROM catalog.schema). */
export class TrinoTablesDto {
  @ApiProperty({ type: [String], example: ['customer', 'lineitem', 'nation', 'orders'] })
  tables!: string[];
}
