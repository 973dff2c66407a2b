import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';

/** The longest returnTo: a pending login keeps it for 10 minutes, so anyone's login costs memory in proportion. */
export const RETURN_TO_MAX_LENGTH = 512;

/** GET /auth/login */
export class LoginQueryDto {
  @ApiPropertyOptional({
    description: 'Path on this service to return to after the login (default /mlflow/); only a local absolute path',
    example: '/mlflow/',
    maxLength: RETURN_TO_MAX_LENGTH,
  })
  @IsOptional()
  @IsString()
  @MaxLength(RETURN_TO_MAX_LENGTH)
  // eslint-disable-next-line no-control-regex -- control characters are what it rejects
  @Matches(/^\/(?![/\\])[^\s\\\u0000-\u001f\u007f]*$/, { message: 'returnTo must be a local absolute path (starting with a single /)' })
  returnTo?: string;
}
