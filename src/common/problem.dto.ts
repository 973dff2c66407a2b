import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PROBLEM_REASONS } from './problem';

export class ProblemFieldErrorDto {
  @ApiProperty({ example: 'sql' }) field!: string;
  @ApiProperty({ example: 'sql must be a string' }) message!: string;
}

/** RFC 9457 problem details: the body of every error the BFF answers. */
export class ProblemDto {
  @ApiProperty({ example: 'urn:problem:bff:token_missing' }) type!: string;
  @ApiProperty({ example: 'Authentication required' }) title!: string;
  @ApiProperty({ example: 401 }) status!: number;
  @ApiProperty({
    example: 'token_missing',
    description: 'Stable machine-readable reason',
    enum: PROBLEM_REASONS,
  })
  reason!: string;
  @ApiPropertyOptional({ example: 'a bearer token is required' }) detail?: string;
  @ApiPropertyOptional({ example: '/auth/me' }) instance?: string;
  @ApiPropertyOptional({ example: 'req-1' }) requestId?: string;
  @ApiPropertyOptional({ type: [ProblemFieldErrorDto] }) errors?: ProblemFieldErrorDto[];
  @ApiPropertyOptional({
    example: 'PERMISSION_DENIED',
    description: "MLflow proxy refusals only: MLflow's error code (PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_DOES_NOT_EXIST, …), read by MLflow's clients",
  })
  error_code?: string;
  @ApiPropertyOptional({ example: 'READ on experiment 1 is needed', description: 'MLflow proxy refusals only: the detail, where MLflow clients read it' })
  message?: string;
}
