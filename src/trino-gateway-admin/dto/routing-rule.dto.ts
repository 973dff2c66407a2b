import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsInt, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { IsOptionalNotNull } from '../../common/optional';

export const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * A Trino Gateway routing rule (RoutingRule): an MVEL `condition` and `actions`, matched by
 * `name` on update; a higher priority is evaluated first.
 */
export class RoutingRuleInputDto {
  @ApiProperty({ example: 'airflow', pattern: RULE_NAME.source, description: 'Rule name (the gateway updates the rule with this name)' })
  @IsString()
  @Matches(RULE_NAME, { message: 'name must be 1-128 characters: letters, digits, dot, underscore, dash, starting with a letter or digit' })
  name!: string;

  @ApiPropertyOptional({ example: 'Route Airflow queries to the etl group', default: '' })
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(1024)
  description?: string;

  @ApiPropertyOptional({ example: 1, default: 0, description: 'Higher first' })
  @IsOptionalNotNull()
  @IsInt()
  @Min(-1000000)
  @Max(1000000)
  priority?: number;

  @ApiPropertyOptional({ example: ['result.put("routingGroup", "etl")'], type: [String], default: [] })
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(4096, { each: true })
  actions?: string[];

  @ApiProperty({ example: 'request.getHeader("X-Trino-Source") == "airflow"', description: 'MVEL condition' })
  @IsString()
  @MinLength(1)
  @MaxLength(4096)
  condition!: string;
}

/** A routing rule as the gateway answers it. */
export class RoutingRuleDto {
  @ApiProperty({ example: 'airflow' }) name!: string;
  @ApiProperty({ example: 'Route Airflow queries to the etl group' }) description!: string;
  @ApiProperty({ example: 1 }) priority!: number;
  @ApiProperty({ example: ['result.put("routingGroup", "etl")'], type: [String] }) actions!: string[];
  @ApiProperty({ example: 'request.getHeader("X-Trino-Source") == "airflow"' }) condition!: string;
}
