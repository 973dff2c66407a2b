import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, MaxLength } from 'class-validator';
import { IsOptionalNotNull } from '../../common/optional';
import { MAX_TOKEN_LENGTH } from '../../auth/token-verifier.service';

/**
 * The legacy agent service read the caller's token from a `userToken` body field. It is still
 * accepted, but only when it is the very token of the request's Authorization header: it never
 * authenticates on its own, and a different token is a 400 (ambiguous_token).
 */
export class LegacyUserTokenDto {
  @ApiPropertyOptional({
    description: 'Deprecated. Accepted only when equal to the bearer token of the request; never authenticates on its own.',
    deprecated: true,
  })
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(MAX_TOKEN_LENGTH)
  userToken?: string;
}
