import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { Principal } from '../principal';

/** The caller as the BFF sees it (GET /auth/me). Never includes the token. */
export class PrincipalDto {
  @ApiProperty({ example: '3f1c2a9e-5b7d-4c1e-9a0b-2d4e6f8a1b3c' }) subject!: string;
  @ApiPropertyOptional({ example: 'alice' }) username?: string;
  @ApiPropertyOptional({ example: 'alice@example.com' }) email?: string;
  @ApiPropertyOptional({ example: 'Alice Liddell' }) name?: string;
  @ApiProperty({ example: ['REGULAR'], type: [String] }) roles!: string[];
  @ApiProperty({ example: ['/data-team'], type: [String] }) groups!: string[];
  @ApiProperty({ example: 'http://127.0.0.1:4000/realms/platform' }) issuer!: string;
  @ApiPropertyOptional({ example: 'platform-frontend', description: 'azp: the client the token was issued to' }) clientId?: string;
  @ApiProperty({ example: ['platform-bff', 'account'], type: [String] }) audiences!: string[];
  @ApiProperty({ example: '2026-11-24T04:00:00.000Z', description: 'When the token expires' }) expiresAt!: string;

  static from(p: Principal): PrincipalDto {
    return {
      subject: p.subject,
      username: p.username,
      email: p.email,
      name: p.name,
      roles: [...p.roles],
      groups: [...p.groups],
      issuer: p.issuer,
      clientId: p.clientId,
      audiences: [...p.audiences],
      expiresAt: new Date(p.expiresAt * 1000).toISOString(),
    };
  }
}
