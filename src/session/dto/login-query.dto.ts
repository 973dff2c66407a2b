import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';

/** GET /auth/login */
export class LoginQueryDto {
  @ApiPropertyOptional({
    description: 'Path on this service to return to after the login (default /mlflow/); only a local absolute path',
    example: '/mlflow/',
    maxLength: 2048,
  })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  // eslint-disable-next-line no-control-regex -- control characters are what it rejects
  @Matches(/^\/(?![/\\])[^\s\\\u0000-\u001f\u007f]*$/, { message: 'returnTo must be a local absolute path (starting with a single /)' })
  returnTo?: string;
}
