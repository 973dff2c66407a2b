import { Global, Module } from '@nestjs/common';
import { AuditLog } from './audit-log.service';

/** The audit channel, for every module whose writes or security events must be on record. */
@Global()
@Module({ providers: [AuditLog], exports: [AuditLog] })
export class AuditModule {}
