import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsString, IsUrl, Matches, MaxLength } from 'class-validator';
import { IsOptionalNotNull } from '../../common/optional';

/** A backend (cluster) name: what the Trino Gateway keys backends by, also used in URL paths. */
export const BACKEND_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const BACKEND_NAME_MESSAGE = 'must be 1-128 characters: letters, digits, dot, underscore, dash, starting with a letter or digit';
export const ROUTING_GROUP = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HTTP_URL = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

/** A backend to add or update (Trino Gateway ProxyBackendConfiguration). Absent fields take the gateway's defaults. */
export class GatewayBackendInputDto {
  @ApiProperty({ example: 'trino-3', pattern: BACKEND_NAME.source, description: 'Unique backend name' })
  @IsString()
  @Matches(BACKEND_NAME, { message: `name ${BACKEND_NAME_MESSAGE}` })
  name!: string;

  @ApiProperty({ example: 'http://trino-3.trino.svc:8080', description: 'URL the gateway proxies queries to' })
  @IsString()
  @MaxLength(2048)
  @IsUrl(HTTP_URL, { message: 'proxyTo must be an http(s) URL' })
  proxyTo!: string;

  @ApiPropertyOptional({ example: true, default: true, description: 'Whether the gateway routes queries to it' })
  @IsOptionalNotNull()
  @IsBoolean()
  active?: boolean;

  @ApiPropertyOptional({ example: 'adhoc', default: 'adhoc', pattern: ROUTING_GROUP.source, description: 'Routing group the backend serves' })
  @IsOptionalNotNull()
  @IsString()
  @Matches(ROUTING_GROUP, { message: 'routingGroup must be 1-64 characters: letters, digits, dot, underscore, dash' })
  routingGroup?: string;

  @ApiPropertyOptional({ example: 'https://trino-3.example.com', description: 'URL clients see (default: proxyTo)' })
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(2048)
  @IsUrl(HTTP_URL, { message: 'externalUrl must be an http(s) URL' })
  externalUrl?: string;
}

/** A backend as the Trino Gateway stores it. */
export class GatewayBackendDto {
  @ApiProperty({ example: 'trino-adhoc-1' }) name!: string;
  @ApiProperty({ example: 'http://trino-adhoc-1.trino.svc:8080' }) proxyTo!: string;
  @ApiProperty({ example: true }) active!: boolean;
  @ApiProperty({ example: 'adhoc' }) routingGroup!: string;
  @ApiProperty({ example: 'https://trino.example.com' }) externalUrl!: string;
}

/** Body of POST /trino/gateway/backend/modify/delete (forwarded to the gateway as the raw name). */
export class DeleteBackendDto {
  @ApiProperty({ example: 'trino-3', pattern: BACKEND_NAME.source })
  @IsString()
  @Matches(BACKEND_NAME, { message: `name ${BACKEND_NAME_MESSAGE}` })
  name!: string;
}

/** Path parameter of activate/deactivate. */
export class ClusterNameParamsDto {
  @ApiProperty({ example: 'trino-etl-1', pattern: BACKEND_NAME.source })
  @IsString()
  @Matches(BACKEND_NAME, { message: `clusterName ${BACKEND_NAME_MESSAGE}` })
  clusterName!: string;
}

/** What a delete/activate/deactivate did (the gateway itself answers with an empty body). */
export class GatewayBackendActionDto {
  @ApiProperty({ example: 'trino-etl-1' }) name!: string;
  @ApiProperty({ example: 'activated', enum: ['deleted', 'activated', 'deactivated'] }) action!: 'deleted' | 'activated' | 'deactivated';
}
