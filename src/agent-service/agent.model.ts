import { createHash } from 'node:crypto';
import { ROLE_ADMIN } from '../auth/access-policy';
import type { Principal } from '../auth/principal';

/** Bounds of an agent's settings: the DTOs validate against these, the WebSocket sessions rely on them. */
export const SETTINGS_BOUNDS = Object.freeze({
  temperature: { min: 0, max: 2 },
  systemPromptMaxLength: 8000,
  maxTokens: { min: 1, max: 32768 },
});
export const AGENT_NAME_MAX_LENGTH = 100;
export const AGENT_DESCRIPTION_MAX_LENGTH = 1000;
/** An owner can keep at most this many agents (bounds what one user can store). */
export const MAX_AGENTS_PER_OWNER = 200;

export const DEFAULT_TEMPERATURE = 0.7;
export const DEFAULT_MAX_TOKENS = 1024;

/** How an agent talks to the LLM provider. */
export interface AgentSettings {
  /** One of config.llm.models (GET /api/agents/models). */
  model: string;
  temperature: number;
  systemPrompt: string;
  /** Upper bound of completion tokens per turn. */
  maxTokens: number;
}

/** An agent as stored in the StateStore (Valkey when configured). */
export interface AgentRecord {
  id: string;
  name: string;
  description?: string;
  /** The creator's `sub`. */
  owner: string;
  /** The creator's issuer: ownership is (issuer, sub), so two trusted issuers can never share agents by accident. */
  ownerIssuer: string;
  /** preferred_username at creation, for display only (never used to decide). */
  ownerName?: string;
  settings: AgentSettings;
  createdAt: string;
  updatedAt: string;
}

/** A stable, key-safe identifier of a principal: SHA-256 of issuer and subject (no claim text in Valkey keys). */
export function ownerKeyOf(principal: Pick<Principal, 'issuer' | 'subject'>): string {
  return createHash('sha256').update(`${principal.issuer}\n${principal.subject}`).digest('hex').slice(0, 40);
}

export const isAdmin = (principal: Principal): boolean => principal.roles.includes(ROLE_ADMIN);

/** The owner sees their agent; ADMIN sees every agent. Everyone else is told it does not exist. */
export function canAccess(principal: Principal, agent: AgentRecord): boolean {
  return isAdmin(principal) || (agent.owner === principal.subject && agent.ownerIssuer === principal.issuer);
}

/** Agent ids are UUIDs (randomUUID); anything else is refused before any lookup. */
export const AGENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
