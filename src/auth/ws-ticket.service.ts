import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AuthFailure } from './auth-failure';
import { StateStore } from '../state/state-store';

/** A ticket is valid this long after it was issued. */
export const WS_TICKET_TTL_S = 30;
/** 32 random bytes, base64url: 43 characters. */
const TICKET_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface StoredTicket {
  agentId: string;
  /** The bearer token the ticket stands for, AES-256-GCM under a key only the ticket itself yields. */
  sealed: string;
}

const ticketKey = (ticket: string) => `agents:ws-ticket:${createHash('sha256').update(ticket).digest('hex')}`;
const sealingKey = (ticket: string) => Buffer.from(hkdfSync('sha256', Buffer.from(ticket, 'base64url'), Buffer.alloc(0), 'platform-bff ws-ticket v1', 32));

/**
 * Single-use, short-lived tickets for the agent WebSocket, so that no JWT has to sit in a URL
 * (browsers cannot set headers on a WebSocket, and URLs end up in proxy logs).
 *
 * POST /api/agents/:id/ws-ticket (authenticated as any agent route) stores, in the StateStore
 * (Valkey: any replica can redeem it), under the SHA-256 of the ticket, the agent id and the
 * caller's token sealed with AES-256-GCM under a key derived from the ticket (HKDF). The store
 * therefore holds neither the ticket nor a usable token: whoever reads Valkey learns nothing
 * that opens a session. The upgrade redeems the ticket with an atomic GETDEL (single use), unseals
 * the token and puts it through the same AccessDecider as every other door — so an expired,
 * withdrawn-key or role-less token is refused exactly as with ?access-token=.
 */
@Injectable()
export class WsTicketService {
  constructor(private readonly store: StateStore) {}

  async issue(agentId: string, token: string): Promise<{ ticket: string; expiresAt: Date }> {
    const ticket = randomBytes(32).toString('base64url');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', sealingKey(ticket), iv);
    cipher.setAAD(Buffer.from(agentId));
    const sealed = Buffer.concat([iv, cipher.update(token, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url');
    const stored: StoredTicket = { agentId, sealed };
    await this.store.setJson(ticketKey(ticket), stored, WS_TICKET_TTL_S * 1000);
    return { ticket, expiresAt: new Date(Date.now() + WS_TICKET_TTL_S * 1000) };
  }

  /**
   * Consumes the ticket (whatever the outcome, it cannot be used twice) and returns the token it
   * stands for. AuthFailure 401 when the ticket is malformed, unknown, used, expired, or was issued
   * for another agent.
   */
  async redeem(ticket: string, agentId: string): Promise<string> {
    if (!TICKET_FORMAT.test(ticket)) throw new AuthFailure(401, 'token_invalid', 'the ticket is malformed');
    return unseal(ticket, agentId, await this.store.takeJson<StoredTicket>(ticketKey(ticket)));
  }

  /**
   * The token a ticket stands for, WITHOUT consuming the ticket: for the gateway check (/api/auth,
   * nginx auth_request) that runs before the upgrade, which then redeems it. Refused exactly as
   * redeem() refuses (401: malformed, unknown, used, expired, another agent), so a ticket that
   * passes this check is one the upgrade would accept, and one that fails it never reaches the
   * upgrade.
   */
  async check(ticket: string, agentId: string): Promise<string> {
    if (!TICKET_FORMAT.test(ticket)) throw new AuthFailure(401, 'token_invalid', 'the ticket is malformed');
    return unseal(ticket, agentId, await this.store.getJson<StoredTicket>(ticketKey(ticket)));
  }
}

/** The token sealed in a stored ticket, once its binding (the agent) is checked. */
function unseal(ticket: string, agentId: string, stored: StoredTicket | undefined): string {
  if (!stored) throw new AuthFailure(401, 'token_invalid', 'the ticket is unknown, already used or expired');
  if (stored.agentId !== agentId) throw new AuthFailure(401, 'token_invalid', 'the ticket was issued for another agent');
  try {
    const raw = Buffer.from(stored.sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(ticket), raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(agentId));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new AuthFailure(401, 'token_invalid', 'the ticket could not be opened');
  }
}
