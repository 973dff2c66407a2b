import { ApiProperty } from '@nestjs/swagger';
import { IsTrinoIdentifier, TRINO_IDENTIFIER, TRINO_IDENTIFIER_RULE } from '../trino-identifier';

/** Path parameters of GET /chatbot/trino/schemas/:catalog. */
export class CatalogPathDto {
  @ApiProperty({ example: 'tpch', pattern: TRINO_IDENTIFIER.source, description: `Catalog name; ${TRINO_IDENTIFIER_RULE}` })
  @IsTrinoIdentifier()
  catalog!: string;
}

/** Path parameters of GET /chatbot/trino/tables/:catalog/:schema. */
export class SchemaPathDto {
  @ApiProperty({ example: 'tpch', pattern: TRINO_IDENTIFIER.source, description: `Catalog name; ${TRINO_IDENTIFIER_RULE}` })
  @IsTrinoIdentifier()
  catalog!: string;

  @ApiProperty({ example: 'tiny', pattern: TRINO_IDENTIFIER.source, description: `Schema name; ${TRINO_IDENTIFIER_RULE}` })
  @IsTrinoIdentifier()
  schema!: string;
}
