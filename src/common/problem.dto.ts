import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

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
    enum: [
      'token_missing', 'token_invalid', 'token_expired', 'issuer_not_trusted', 'audience_mismatch', 'insufficient_role',
      'token_exchange_denied', 'identity_provider_unavailable', 'upstream_unavailable', 'upstream_timeout', 'upstream_error',
      'validation_failed', 'ambiguous_token', 'not_found', 'method_not_allowed', 'payload_too_large', 'rate_limited',
      'conflict', 'internal_error',
    ],
  })
  reason!: string;
  @ApiPropertyOptional({ example: 'a bearer token is required' }) detail?: string;
  @ApiPropertyOptional({ example: '/auth/me' }) instance?: string;
  @ApiPropertyOptional({ example: 'req-1' }) requestId?: string;
  @ApiPropertyOptional({ type: [ProblemFieldErrorDto] }) errors?: ProblemFieldErrorDto[];
}
