import { nestsDeeperThan, tooDeepDetail } from '../common/json-depth';
import type { LlmUsage } from './llm-provider';

/**
 * The agent conversation protocol on WS /api/agents/:id/react (JSON text frames).
 *
 * client → server  {"type":"user_message","content":"..."}      one turn at a time
 * server → client  {"type":"delta","content":"..."}             streamed pieces of the answer
 *                  {"type":"done","usage":{prompt_tokens,completion_tokens,total_tokens}}   end of a turn
 *                  {"type":"error","reason":"...","detail":"..."}  the turn (or the frame) failed
 *
 * Close codes: 1000 normal, 1001 server shutting down, 1009 frame larger than MAX_FRAME_BYTES,
 * 4401 the token expired, 4404 the agent was deleted, 4429 the daily token quota is spent.
 */
export type ClientFrame = { type: 'user_message'; content: string };

export type ServerFrame = { type: 'delta'; content: string } | { type: 'done'; usage: LlmUsage } | { type: 'error'; reason: FrameErrorReason; detail?: string };

/** Stable reasons of error frames (the same words as the problem+json reasons). */
export type FrameErrorReason =
  'validation_failed' | 'conflict' | 'rate_limited' | 'not_found' | 'upstream_unavailable' | 'upstream_timeout' | 'upstream_error' | 'internal_error';

export const CLOSE = Object.freeze({
  normal: 1000,
  goingAway: 1001,
  tokenExpired: 4401,
  /** The session of the token was logged out (back-channel logout): same code as expiry, reason token_revoked. */
  tokenRevoked: 4401,
  agentGone: 4404,
  quotaSpent: 4429,
});

/** Largest frame a client may send (ws closes with 1009 beyond it). */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Longest user message, in characters. */
export const MAX_MESSAGE_CHARS = 32_000;

/**
 * The text of a delta frame: the same as JSON.stringify({ type: 'delta', content }), built without the
 * object (the hot path: one frame per read from the provider). The content is escaped by JSON.stringify.
 */
export function deltaFrame(content: string): string {
  return `{"type":"delta","content":${JSON.stringify(content)}}`;
}

/** A client frame, or why it is refused. */
export function parseClientFrame(data: string): ClientFrame | { error: string } {
  if (nestsDeeperThan(data)) return { error: tooDeepDetail('a frame') };
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { error: 'a frame must be a JSON object' };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { error: 'a frame must be a JSON object' };
  const v = value as Record<string, unknown>;
  if (v.type !== 'user_message') return { error: "type must be 'user_message'" };
  if (Object.keys(v).some((k) => k !== 'type' && k !== 'content')) return { error: 'only the fields type and content are allowed' };
  if (typeof v.content !== 'string' || v.content.trim().length === 0) return { error: 'content must be a non-empty string' };
  if (v.content.length > MAX_MESSAGE_CHARS) return { error: `content must be at most ${MAX_MESSAGE_CHARS} characters` };
  return { type: 'user_message', content: v.content };
}
