import { Inject, Injectable, Optional } from '@nestjs/common';
import { PARAMS_PROVIDER_TOKEN, type Params } from 'nestjs-pino';
import pino, { type Logger as PinoLogger } from 'pino';
import { redactDeep } from '../common/redact';
import { APP_CONFIG, type AppConfig } from '../config/app-config';

/** Who did it: a verified bearer caller, or a break-glass user authenticated with HTTP Basic. */
export interface AuditActor {
  via: 'bearer' | 'break-glass';
  /** `sub` of the verified token (bearer callers). */
  subject?: string;
  /** preferred_username (bearer) or the break-glass user name. */
  username?: string;
}

export type AuditOutcome = 'success' | 'failure' | 'denied';
/** `alert` is for events an operator must look at now (break-glass). */
export type AuditLevel = 'info' | 'warn' | 'alert';

export interface AuditEvent {
  /** What was attempted, e.g. `trino-gateway.backend.add`. */
  action: string;
  actor: AuditActor;
  /** What it was attempted on, e.g. the backend name or the route. */
  target: string;
  outcome: AuditOutcome;
  /** Problem reason or refusal cause when the outcome is not success. */
  reason?: string;
  requestId?: string;
  /** Default: info for success, warn otherwise. */
  level?: AuditLevel;
}

/** An event as written to the channel. */
export interface AuditRecord extends Required<Pick<AuditEvent, 'action' | 'actor' | 'target' | 'outcome'>> {
  channel: 'audit';
  level: AuditLevel;
  time: string;
  reason?: string;
  requestId?: string;
}

export type AuditListener = (record: AuditRecord) => void;

/** pino level number of `alert`: above error (50), below fatal (60). */
const ALERT_LEVEL = 55;

/**
 * The audit channel: one JSON line per security-relevant event, `"channel":"audit"`, with actor,
 * action, target and outcome, and a severity of info, warn or alert (break-glass).
 *
 * It is a child of the application's root pino logger (same destination, same redaction) with
 * a level of its own: audit events are written whatever LOG_LEVEL says (only LOG_LEVEL=silent
 * silences them), and `alert` events use the custom pino level 55 (between error and fatal)
 * besides the `severity` field. Fields are built here from typed values; never a token.
 */
@Injectable()
export class AuditLog {
  private readonly logger: PinoLogger<'alert'>;
  private readonly listeners = new Set<AuditListener>();

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Optional() @Inject(PARAMS_PROVIDER_TOKEN) params?: Params) {
    const level = config.logLevel === 'silent' ? 'silent' : 'info';
    const http = params?.pinoHttp as { logger?: PinoLogger } | undefined;
    const root = http && typeof http === 'object' && 'logger' in http ? http.logger : undefined;
    this.logger = root
      ? (root.child({ channel: 'audit' }, { level, customLevels: { alert: ALERT_LEVEL } }) as PinoLogger<'alert'>)
      : pino<'alert'>({ name: 'audit', level, customLevels: { alert: ALERT_LEVEL }, base: { channel: 'audit' } });
  }

  record(event: AuditEvent): void {
    const level: AuditLevel = event.level ?? (event.outcome === 'success' ? 'info' : 'warn');
    const record: AuditRecord = {
      channel: 'audit',
      level,
      time: new Date().toISOString(),
      action: event.action,
      actor: { ...event.actor },
      target: event.target,
      outcome: event.outcome,
    };
    if (event.reason) record.reason = event.reason;
    if (event.requestId) record.requestId = event.requestId;
    const line = redactDeep({
      event: 'audit',
      severity: level,
      action: record.action,
      actor: record.actor,
      target: record.target,
      outcome: record.outcome,
      reason: record.reason,
      requestId: record.requestId,
    }) as object;
    this.logger[level](line, `audit ${record.action} ${record.outcome}`);
    for (const listener of this.listeners) {
      try {
        listener(record);
      } catch {
        // A subscriber's failure never stops the audit trail.
      }
    }
  }

  /** In-process subscribers (forwarders, tests). Returns the unsubscribe function. */
  subscribe(listener: AuditListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
