import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { problem, ProblemException } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StateStore } from '../state/state-store';
import {
  AGENT_ID,
  canAccess,
  DEFAULT_MAX_TOKENS,
  DEFAULT_TEMPERATURE,
  isAdmin,
  MAX_AGENTS_PER_OWNER,
  ownerKeyOf,
  type AgentRecord,
  type AgentSettings,
} from './agent.model';
import type { AgentSettingsInputDto } from './dto/agent-settings.dto';
import type { CreateAgentDto } from './dto/create-agent.dto';

const agentKey = (id: string) => `agents:agent:${id}`;
const ownerIndexKey = (ownerKey: string) => `agents:owner:${ownerKey}`;
const ALL_INDEX_KEY = 'agents:all';
/** Marks a deleted agent, so that a live session can tell "deleted" from "not readable right now". */
const tombstoneKey = (id: string) => `agents:deleted:${id}`;
const TOMBSTONE_TTL_MS = 24 * 60 * 60 * 1000;

const SETTINGS_FIELDS = ['model', 'temperature', 'systemPrompt', 'maxTokens'] as const;

/**
 * Agents and who may see them. Stored in the StateStore (Valkey when VALKEY_URL is set, so they
 * survive a restart and are shared by every replica): one record per agent plus two id sets,
 * per owner and global (for ADMIN). An agent is its creator's; anyone else but an ADMIN is told
 * it does not exist (404), so ids cannot be probed.
 */
@Injectable()
export class AgentsService {
  private readonly log = new Logger('AgentsService');

  constructor(
    private readonly store: StateStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  models(): { models: string[]; default: string } {
    return { models: [...this.config.llm.models], default: this.config.llm.models[0] };
  }

  /** `id`: a new one; sandbox mode gives its demo agent the id the OpenAPI examples name. */
  async create(principal: Principal, input: CreateAgentDto, id: string = randomUUID()): Promise<AgentRecord> {
    const ownerKey = ownerKeyOf(principal);
    const owned = await this.store.sMembers(ownerIndexKey(ownerKey));
    if (owned.length >= MAX_AGENTS_PER_OWNER) {
      throw new ProblemException(409, 'conflict', `an owner can keep at most ${MAX_AGENTS_PER_OWNER} agents; delete one first`);
    }
    const defaults: AgentSettings = {
      model: this.config.llm.models[0],
      temperature: DEFAULT_TEMPERATURE,
      systemPrompt: '',
      maxTokens: DEFAULT_MAX_TOKENS,
    };
    const settings = this.mergeSettings(defaults, input.settings ?? {}, 'settings.');
    const now = new Date().toISOString();
    const agent: AgentRecord = {
      id,
      name: input.name,
      owner: principal.subject,
      ownerIssuer: principal.issuer,
      settings,
      createdAt: now,
      updatedAt: now,
    };
    if (input.description !== undefined) agent.description = input.description;
    if (principal.username) agent.ownerName = principal.username;
    await this.store.setJson(agentKey(agent.id), agent);
    await this.store.sAdd(ownerIndexKey(ownerKey), agent.id);
    await this.store.sAdd(ALL_INDEX_KEY, agent.id);
    this.log.log({ event: 'agent.created', agentId: agent.id, sub: principal.subject, model: settings.model });
    return agent;
  }

  /** The caller's agents (every agent for ADMIN), oldest first. */
  async list(principal: Principal): Promise<AgentRecord[]> {
    const indexKey = isAdmin(principal) ? ALL_INDEX_KEY : ownerIndexKey(ownerKeyOf(principal));
    const ids = await this.store.sMembers(indexKey);
    const records = await Promise.all(ids.map((id) => this.store.getJson<AgentRecord>(agentKey(id))));
    const out: AgentRecord[] = [];
    for (let i = 0; i < ids.length; i++) {
      const r = records[i];
      if (!r) {
        // A record removed behind the index's back (e.g. written during a Valkey outage): heal the index.
        await this.store.sRem(indexKey, ids[i]);
        continue;
      }
      if (canAccess(principal, r)) out.push(r);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** One agent the caller may see, or 404. */
  async get(principal: Principal, id: string): Promise<AgentRecord> {
    const agent = await this.find(principal, id);
    if (!agent) throw problem.notFound('no such agent');
    return agent;
  }

  /** One agent the caller may see, or undefined (no distinction between absent and not yours). */
  async find(principal: Principal, id: string): Promise<AgentRecord | undefined> {
    if (!AGENT_ID.test(id)) return undefined;
    const agent = await this.store.getJson<AgentRecord>(agentKey(id));
    return agent && canAccess(principal, agent) ? agent : undefined;
  }

  /**
   * The agent as stored now, whoever owns it (a live session re-reads its settings every turn):
   * the record, 'deleted' when it was deleted, or 'unknown' when the record cannot be read and no
   * deletion is recorded (the StateStore answers from its memory fallback while Valkey is slow or down).
   */
  async current(id: string): Promise<AgentRecord | 'deleted' | 'unknown'> {
    const agent = await this.store.getJson<AgentRecord>(agentKey(id));
    if (agent) return agent;
    return (await this.store.getJson<true>(tombstoneKey(id))) ? 'deleted' : 'unknown';
  }

  async remove(principal: Principal, id: string): Promise<void> {
    const agent = await this.get(principal, id);
    await this.store.setJson(tombstoneKey(id), true, TOMBSTONE_TTL_MS);
    await this.store.del(agentKey(id));
    await this.store.sRem(ownerIndexKey(ownerKeyOf({ issuer: agent.ownerIssuer, subject: agent.owner })), id);
    await this.store.sRem(ALL_INDEX_KEY, id);
    this.log.log({ event: 'agent.deleted', agentId: id, sub: principal.subject, owner: agent.owner });
  }

  async updateSettings(principal: Principal, id: string, input: AgentSettingsInputDto): Promise<AgentRecord> {
    const changes: AgentSettingsInputDto = {};
    for (const k of SETTINGS_FIELDS) if (input[k] !== undefined) (changes as Record<string, unknown>)[k] = input[k];
    if (Object.keys(changes).length === 0) {
      throw problem.badRequest(`name at least one setting to change (${SETTINGS_FIELDS.join(', ')})`, [
        { field: 'settings', message: `at least one of ${SETTINGS_FIELDS.join(', ')} is required` },
      ]);
    }
    const agent = await this.get(principal, id);
    const updated: AgentRecord = {
      ...agent,
      settings: this.mergeSettings(agent.settings, changes, ''),
      updatedAt: new Date().toISOString(),
    };
    await this.store.setJson(agentKey(id), updated);
    this.log.log({ event: 'agent.settings_changed', agentId: id, sub: principal.subject, fields: Object.keys(changes) });
    return updated;
  }

  private mergeSettings(base: AgentSettings, changes: AgentSettingsInputDto, fieldPrefix: string): AgentSettings {
    const merged: AgentSettings = { ...base };
    if (changes.model !== undefined) merged.model = changes.model;
    if (changes.temperature !== undefined) merged.temperature = changes.temperature;
    if (changes.systemPrompt !== undefined) merged.systemPrompt = changes.systemPrompt;
    if (changes.maxTokens !== undefined) merged.maxTokens = changes.maxTokens;
    // Only a model the request names is checked: an agent whose model was withdrawn from AGENT_MODELS
    // can still change its other settings (its sessions answer an error until the model is changed).
    if (changes.model !== undefined && !this.config.llm.models.includes(changes.model)) {
      const message = `${fieldPrefix}model must be one of: ${this.config.llm.models.join(', ')}`;
      throw problem.badRequest(message, [{ field: `${fieldPrefix}model`, message }]);
    }
    return merged;
  }
}
