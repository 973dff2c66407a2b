import { Logger } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import type { AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from '../state/valkey-client';
import { StateStore } from '../state/state-store';
import { MAX_AGENTS_PER_OWNER } from './agent.model';
import { AgentsService } from './agents.service';

const principal = (subject: string, roles: string[] = ['REGULAR'], issuer = 'https://idp/realms/platform'): Principal =>
  ({ subject, roles, issuer, username: subject, groups: [], audiences: [], expiresAt: 0, claims: {} }) as Principal;

describe('AgentsService', () => {
  afterEach(() => jest.restoreAllMocks());
  const config = { llm: { models: ['small', 'large'] } } as unknown as AppConfig;
  let store: StateStore;
  let agents: AgentsService;
  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    store = new StateStore(config, new ValkeyClient(config, new ReadinessRegistry()));
    agents = new AgentsService(store, config);
  });

  it('gives an agent the defaults and its owner', async () => {
    const a = await agents.create(principal('alice'), { name: 'n' });
    expect(a).toMatchObject({ name: 'n', owner: 'alice', ownerName: 'alice', settings: { model: 'small', temperature: 0.7, systemPrompt: '', maxTokens: 1024 } });
    expect(a.description).toBeUndefined();
  });

  it('shows an agent to its owner and ADMIN only; the same issuer is part of ownership', async () => {
    const a = await agents.create(principal('alice'), { name: 'n' });
    expect(await agents.find(principal('alice'), a.id)).toEqual(a);
    expect(await agents.find(principal('bob'), a.id)).toBeUndefined();
    expect(await agents.find(principal('alice', ['REGULAR'], 'https://tenant-b'), a.id)).toBeUndefined();
    expect(await agents.find(principal('root', ['ADMIN']), a.id)).toEqual(a);
    await expect(agents.get(principal('bob'), a.id)).rejects.toMatchObject({ reason: 'not_found' });
    await expect(agents.remove(principal('bob'), a.id)).rejects.toMatchObject({ reason: 'not_found' });
    expect(await agents.list(principal('bob'))).toEqual([]);
    expect((await agents.list(principal('root', ['ADMIN']))).map((x) => x.id)).toEqual([a.id]);
  });

  it('checks the model against the configuration, only when a request names one', async () => {
    await expect(agents.create(principal('alice'), { name: 'n', settings: { model: 'gpt' } })).rejects.toMatchObject({
      status: 400,
      errors: [{ field: 'settings.model', message: 'settings.model must be one of: small, large' }],
    });
    const a = await agents.create(principal('alice'), { name: 'n', settings: { model: 'large' } });
    // The model leaves the configuration: other settings can still change.
    const narrowed = new AgentsService(store, { llm: { models: ['small'] } } as unknown as AppConfig);
    expect((await narrowed.updateSettings(principal('alice'), a.id, { temperature: 1 })).settings).toMatchObject({ model: 'large', temperature: 1 });
    await expect(narrowed.updateSettings(principal('alice'), a.id, { model: 'large' })).rejects.toMatchObject({ status: 400 });
    await expect(agents.updateSettings(principal('alice'), a.id, {})).rejects.toMatchObject({ status: 400 });
  });

  it('bounds how many agents one owner keeps', async () => {
    await Promise.all(Array.from({ length: MAX_AGENTS_PER_OWNER }, () => store.sAdd(`agents:owner:x`, 'y')));
    const owner = principal('hoarder');
    for (let i = 0; i < MAX_AGENTS_PER_OWNER; i++) await agents.create(owner, { name: `a${i}` });
    await expect(agents.create(owner, { name: 'one more' })).rejects.toMatchObject({ status: 409, reason: 'conflict' });
  });

  it('tells a deleted agent from one that cannot be read right now', async () => {
    const a = await agents.create(principal('alice'), { name: 'n' });
    expect(await agents.current(a.id)).toEqual(a);
    await store.del(`agents:agent:${a.id}`); // as when Valkey is unreachable and memory answers
    expect(await agents.current(a.id)).toBe('unknown');
    const b = await agents.create(principal('alice'), { name: 'm' });
    await agents.remove(principal('alice'), b.id);
    expect(await agents.current(b.id)).toBe('deleted');
  });

  it('heals the index when a record vanished', async () => {
    const a = await agents.create(principal('alice'), { name: 'n' });
    await store.del(`agents:agent:${a.id}`);
    expect(await agents.list(principal('alice'))).toEqual([]);
    expect(await agents.list(principal('root', ['ADMIN']))).toEqual([]);
  });
});
