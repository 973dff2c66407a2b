import { createDecipheriv, createHash, hkdfSync, randomUUID } from 'node:crypto';
import type { AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from '../state/valkey-client';
import { StateStore } from '../state/state-store';
import { WS_TICKET_TTL_S, WsTicketService } from './ws-ticket.service';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';

describe('WsTicketService', () => {
  let store: StateStore;
  let tickets: WsTicketService;
  const agent = randomUUID();

  beforeEach(() => {
    store = new StateStore({} as AppConfig, new ValkeyClient({} as AppConfig, new ReadinessRegistry())); // memory backend
    tickets = new WsTicketService(store);
  });

  it('issues a 43-character ticket valid for 30 s that yields the token once', async () => {
    const before = Date.now();
    const { ticket, expiresAt } = await tickets.issue(agent, TOKEN);
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt.getTime() - before).toBeGreaterThanOrEqual(WS_TICKET_TTL_S * 1000);
    expect(await tickets.redeem(ticket, agent)).toBe(TOKEN);
    await expect(tickets.redeem(ticket, agent)).rejects.toMatchObject({ status: 401, detail: 'the ticket is unknown, already used or expired' });
  });

  it('stores neither the ticket nor the token in the clear, and expires', async () => {
    const setJson = jest.spyOn(store, 'setJson');
    const { ticket } = await tickets.issue(agent, TOKEN);
    const [key, value, ttl] = setJson.mock.calls[0];
    expect(`${key} ${JSON.stringify(value)}`).not.toContain(ticket);
    expect(JSON.stringify(value)).not.toContain(TOKEN);
    expect(JSON.stringify(value)).not.toContain(TOKEN.split('.')[1]);
    expect(ttl).toBe(WS_TICKET_TTL_S * 1000);

    jest.useFakeTimers({ now: Date.now() + WS_TICKET_TTL_S * 1000 + 1, doNotFake: ['nextTick', 'setImmediate'] });
    try {
      await expect(tickets.redeem(ticket, agent)).rejects.toMatchObject({ reason: 'token_invalid' });
    } finally {
      jest.useRealTimers();
    }
  });

  it('is bound to its agent, and consumed even by a wrong try', async () => {
    const { ticket } = await tickets.issue(agent, TOKEN);
    await expect(tickets.redeem(ticket, randomUUID())).rejects.toMatchObject({ detail: 'the ticket was issued for another agent' });
    await expect(tickets.redeem(ticket, agent)).rejects.toMatchObject({ reason: 'token_invalid' });
  });

  it('refuses malformed and tampered tickets', async () => {
    await expect(tickets.redeem('short', agent)).rejects.toMatchObject({ detail: 'the ticket is malformed' });
    const { ticket } = await tickets.issue(agent, TOKEN);
    // Tamper with the sealed token: the AEAD refuses it.
    const takeJson = store.takeJson.bind(store);
    jest.spyOn(store, 'takeJson').mockImplementationOnce(async <T>(k: string) => {
      const stored = (await takeJson<{ agentId: string; sealed: string }>(k))!;
      const raw = Buffer.from(stored.sealed, 'base64url');
      raw[raw.length - 20] ^= 1;
      return { ...stored, sealed: raw.toString('base64url') } as T;
    });
    await expect(tickets.redeem(ticket, agent)).rejects.toMatchObject({ detail: 'the ticket could not be opened' });
  });
  it('refuses a ticket with anything before or after its 43 characters as malformed, without a look-up', async () => {
    const { ticket } = await tickets.issue(agent, TOKEN);
    const takeJson = jest.spyOn(store, 'takeJson');
    const getJson = jest.spyOn(store, 'getJson');
    for (const shown of [`A${ticket}`, `${ticket}A`, `.${ticket}`, `${ticket}\n`]) {
      await expect(tickets.redeem(shown, agent)).rejects.toMatchObject({ status: 401, reason: 'token_invalid', detail: 'the ticket is malformed' });
      await expect(tickets.check(shown, agent)).rejects.toMatchObject({ status: 401, reason: 'token_invalid', detail: 'the ticket is malformed' });
    }
    expect(takeJson).not.toHaveBeenCalled();
    expect(getJson).not.toHaveBeenCalled();
    expect(await tickets.redeem(ticket, agent)).toBe(TOKEN);
  });

  it('keeps every live ticket apart: two tickets each yield their own token', async () => {
    const other = `${TOKEN}-other`;
    const first = await tickets.issue(agent, TOKEN);
    const second = await tickets.issue(agent, other);
    expect(await tickets.redeem(first.ticket, agent)).toBe(TOKEN);
    expect(await tickets.redeem(second.ticket, agent)).toBe(other);
  });

  it('stores the sealed token in the format every replica reads (a ticket issued by one is redeemed by another)', async () => {
    // Key: SHA-256 of the ticket; value: IV (12) | AES-256-GCM ciphertext | tag (16), the key derived
    // from the ticket by HKDF-SHA256 with the info "platform-bff ws-ticket v1", the agent id as AAD.
    const setJson = jest.spyOn(store, 'setJson');
    const { ticket } = await tickets.issue(agent, TOKEN);
    const [key, value] = setJson.mock.calls[0] as [string, { agentId: string; sealed: string }];
    expect(key).toBe(`agents:ws-ticket:${createHash('sha256').update(ticket).digest('hex')}`);
    expect(value.agentId).toBe(agent);
    const raw = Buffer.from(value.sealed, 'base64url');
    const sealingKey = Buffer.from(hkdfSync('sha256', Buffer.from(ticket, 'base64url'), Buffer.alloc(0), 'platform-bff ws-ticket v1', 32));
    const decipher = createDecipheriv('aes-256-gcm', sealingKey, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(agent));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    expect(Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8')).toBe(TOKEN);
  });

  describe('check (the gateway check before the upgrade)', () => {
    it('yields the token without consuming the ticket: the upgrade still redeems it, once', async () => {
      const { ticket } = await tickets.issue(agent, TOKEN);
      expect(await tickets.check(ticket, agent)).toBe(TOKEN);
      expect(await tickets.check(ticket, agent)).toBe(TOKEN);
      expect(await tickets.redeem(ticket, agent)).toBe(TOKEN);
      await expect(tickets.check(ticket, agent)).rejects.toMatchObject({ status: 401, detail: 'the ticket is unknown, already used or expired' });
    });

    it('refuses another agent’s ticket (and leaves it to its agent), malformed, unknown and expired tickets', async () => {
      const { ticket } = await tickets.issue(agent, TOKEN);
      await expect(tickets.check(ticket, randomUUID())).rejects.toMatchObject({ status: 401, detail: 'the ticket was issued for another agent' });
      expect(await tickets.redeem(ticket, agent)).toBe(TOKEN);
      await expect(tickets.check('short', agent)).rejects.toMatchObject({ detail: 'the ticket is malformed' });
      await expect(tickets.check('A'.repeat(43), agent)).rejects.toMatchObject({ reason: 'token_invalid' });
      const later = await tickets.issue(agent, TOKEN);
      jest.useFakeTimers({ now: Date.now() + WS_TICKET_TTL_S * 1000 + 1, doNotFake: ['nextTick', 'setImmediate'] });
      try {
        await expect(tickets.check(later.ticket, agent)).rejects.toMatchObject({ reason: 'token_invalid' });
      } finally {
        jest.useRealTimers();
      }
    });
  });
});
