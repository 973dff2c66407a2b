import type { Logger } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { WebSocket, type RawData } from 'ws';
import type { Principal } from '../auth/principal';
import { canAccess, type AgentRecord } from './agent.model';
import type { AgentsService } from './agents.service';
import { estimateTokens, LlmProviderError, type LlmChatMessage, type LlmProvider, type LlmUsage } from './llm-provider';
import type { QuotaService, QuotaState, Reservation } from './quota.service';
import { CLOSE, deltaFrame, parseClientFrame, type ServerFrame } from './ws-protocol';

/** Conversation memory of a session: the latest messages only, within both bounds. */
const MAX_HISTORY_MESSAGES = 40;
const MAX_HISTORY_CHARS = 100_000;
/** Above this many bytes waiting for a slow client, the session stops reading the provider until they are written. */
const SEND_HIGH_WATER_BYTES = 256 * 1024;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Text frames, never compressed (the server also negotiates no permessage-deflate), never fragmented. */
const SEND_OPTIONS = Object.freeze({ binary: false, compress: false, fin: true });

export interface SessionDeps {
  agents: AgentsService;
  quota: QuotaService;
  llm: LlmProvider;
  models: readonly string[];
  log: Logger;
  /** Whether the session's token was revoked (a logout), asking the shared state: checked before each turn reaches the provider. */
  revoked(principal: Principal): Promise<boolean>;
  turns: Counter<'outcome'>;
  tokens: Counter<string>;
}

/**
 * One authenticated conversation with one agent over one WebSocket. Turns run one at a time:
 * the agent's current settings and the user's quota are read at the start of each turn, the turn's
 * tokens (prompt estimate + reply cap) are reserved before the provider is called, the provider's
 * deltas are forwarded as they arrive, and the reservation is settled to the reported usage at the end. The session never
 * outlives the token that opened it (4401 at `exp`), nor the day's quota (4429).
 */
export class AgentSession {
  /** Heartbeat: set by every pong, cleared by every ping round. */
  alive = true;
  private closing = false;
  private turn?: AbortController;
  private expiryTimer?: NodeJS.Timeout;
  private readonly history: LlmChatMessage[] = [];

  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
    /** The agent as admitted, then as last read. */
    private agent: AgentRecord,
    private readonly deps: SessionDeps,
    private readonly onEnd: (session: AgentSession, code: number) => void,
  ) {}

  get agentId(): string {
    return this.agent.id;
  }

  start(quota: QuotaState): void {
    this.ws.on('message', (data: RawData, isBinary: boolean) => this.onFrame(data, isBinary));
    this.ws.on('pong', () => (this.alive = true));
    // ws reports protocol violations (e.g. a frame over maxPayload) as 'error' and closes the socket itself.
    this.ws.on('error', (err: Error) => this.deps.log.debug({ event: 'agent.ws.error', agentId: this.agentId, error: err.message }));
    this.ws.once('close', (code: number) => this.ended(code));
    this.armExpiry();
    if (quota.remaining <= 0) this.close(CLOSE.quotaSpent, 'rate_limited');
  }

  /** Ends the session from the server side (abort the running turn, then the closing handshake). */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.expiryTimer);
    this.turn?.abort(new SessionClosing(code));
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
  }

  private armExpiry(): void {
    const left = this.principal.expiresAt * 1000 - Date.now();
    if (left <= 0) {
      this.close(CLOSE.tokenExpired, 'token_expired');
      return;
    }
    this.expiryTimer = setTimeout(() => this.armExpiry(), Math.min(left, MAX_TIMER_MS));
  }

  private ended(code: number): void {
    this.closing = true;
    clearTimeout(this.expiryTimer);
    this.turn?.abort(new SessionClosing(code));
    this.onEnd(this, code);
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.closing) return;
    if (isBinary) return void this.send({ type: 'error', reason: 'validation_failed', detail: 'binary frames are not accepted' });
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as Buffer).toString('utf8');
    const frame = parseClientFrame(text);
    if ('error' in frame) return void this.send({ type: 'error', reason: 'validation_failed', detail: frame.error });
    if (this.turn) return void this.send({ type: 'error', reason: 'conflict', detail: 'a turn is already in progress; wait for done' });
    const ctrl = new AbortController();
    this.turn = ctrl;
    this.runTurn(frame.content, ctrl)
      .catch((err: unknown) => {
        this.deps.turns.inc({ outcome: 'internal_error' });
        this.deps.log.error({ event: 'agent.turn.failed', agentId: this.agentId, sub: this.principal.subject, err });
        void this.send({ type: 'error', reason: 'internal_error', detail: 'the turn failed; try again' });
      })
      .finally(() => {
        if (this.turn === ctrl) this.turn = undefined;
      });
  }

  private async runTurn(content: string, ctrl: AbortController): Promise<void> {
    // The settings are re-read every turn (a PATCH applies from the next turn). When the record cannot be
    // read and no deletion is recorded (Valkey slow or down), the last known settings serve.
    // Both reads leave in one write to Valkey (the client pipelines the commands of one tick).
    const [current, quota, revoked] = await Promise.all([
      this.deps.agents.current(this.agentId),
      this.deps.quota.state(this.principal),
      this.deps.revoked(this.principal),
    ]);
    if (revoked) {
      this.deps.turns.inc({ outcome: 'revoked' });
      this.close(CLOSE.tokenRevoked, 'token_revoked');
      return;
    }
    if (current === 'unknown') this.deps.log.warn({ event: 'agent.turn.stale_settings', agentId: this.agentId });
    const agent = current === 'unknown' ? this.agent : current === 'deleted' ? undefined : current;
    if (!agent || !canAccess(this.principal, agent)) {
      this.deps.turns.inc({ outcome: 'agent_gone' });
      await this.send({ type: 'error', reason: 'not_found', detail: 'the agent no longer exists' });
      this.close(CLOSE.agentGone, 'not_found');
      return;
    }
    this.agent = agent;
    const { settings } = agent;
    if (!this.deps.models.includes(settings.model)) {
      this.deps.turns.inc({ outcome: 'invalid_model' });
      await this.send({
        type: 'error',
        reason: 'validation_failed',
        detail: `the agent's model ${settings.model} is no longer offered; change it with PATCH /api/agents/${this.agentId}/settings`,
      });
      return;
    }
    if (quota.remaining <= 0) {
      this.deps.turns.inc({ outcome: 'quota_spent' });
      this.close(CLOSE.quotaSpent, 'rate_limited');
      return;
    }
    if (ctrl.signal.aborted) return;

    const messages: LlmChatMessage[] = [];
    if (settings.systemPrompt) messages.push({ role: 'system', content: settings.systemPrompt });
    messages.push(...this.history, { role: 'user', content });
    // Reserve before the provider is called: the prompt (estimated) plus the reply cap, atomically
    // against what this user's other turns (any session, any replica) hold; settled in `finally`.
    const promptTokens = messages.reduce((n, m) => n + estimateTokens(m.content), 0);
    const reservation = await this.deps.quota.reserve(this.principal, promptTokens, settings.maxTokens);
    if (!reservation) {
      const now = await this.deps.quota.state(this.principal);
      this.deps.turns.inc({ outcome: now.remaining <= 0 ? 'quota_spent' : 'quota_reserved' });
      if (now.remaining <= 0) return void this.close(CLOSE.quotaSpent, 'rate_limited');
      await this.send({
        type: 'error',
        reason: 'rate_limited',
        detail: `this turn needs about ${promptTokens + 1} tokens of the daily quota; ${now.remaining} are left, part of them held by turns in progress`,
      });
      return;
    }
    try {
      await this.reservedTurn(content, messages, reservation, ctrl);
    } finally {
      // Released in every case (done, provider failure, client gone, a bug): unsettled, it is charged nothing.
      if (!reservation.settled) await this.deps.quota.settle(reservation, 0).catch(() => undefined);
    }
  }

  private async reservedTurn(content: string, messages: LlmChatMessage[], reservation: Reservation, ctrl: AbortController): Promise<void> {
    const { settings } = this.agent;
    const promptTokens = messages.reduce((n, m) => n + estimateTokens(m.content), 0);
    // The answer so far, as the deltas themselves (joined once at the end): no string per delta kept for the
    // turn's lifetime besides the delta (1,000 turns in flight make that many more objects for every young GC to copy).
    const parts: string[] = [];
    let completionChars = 0;
    let spent: LlmUsage;
    try {
      const request = { model: settings.model, messages, temperature: settings.temperature, maxTokens: Math.max(1, reservation.tokens - promptTokens) };
      // Push style: each read from the provider becomes one delta frame in the same tick.
      spent = await this.deps.llm.stream(
        request,
        {
          onDelta: (delta) => {
            parts.push(delta);
            completionChars += delta.length;
            return this.sendText(deltaFrame(delta));
          },
        },
        ctrl.signal,
      );
    } catch (err) {
      // Whatever was generated before the failure was paid for: charge an estimate of it (the rest is released).
      await this.settle(reservation, completionChars > 0 ? promptTokens + Math.ceil(completionChars / 4) : 0);
      if (err instanceof SessionClosing || ctrl.signal.aborted) {
        this.deps.turns.inc({ outcome: 'aborted' });
        return;
      }
      if (err instanceof LlmProviderError) {
        this.deps.turns.inc({ outcome: err.reason });
        await this.send({ type: 'error', reason: err.reason, detail: err.detail });
        return;
      }
      throw err;
    }
    this.remember({ role: 'user', content }, { role: 'assistant', content: parts.join('') });
    const after = await this.settle(reservation, spent.total_tokens);
    this.deps.turns.inc({ outcome: 'done' });
    await this.send({ type: 'done', usage: spent });
    if (after.remaining <= 0) this.close(CLOSE.quotaSpent, 'rate_limited');
  }

  private async settle(reservation: Reservation, tokens: number): Promise<QuotaState> {
    this.deps.tokens.inc(tokens);
    return this.deps.quota.settle(reservation, tokens);
  }

  private remember(...messages: LlmChatMessage[]): void {
    this.history.push(...messages);
    let chars = this.history.reduce((n, m) => n + m.content.length, 0);
    while (this.history.length > 0 && (this.history.length > MAX_HISTORY_MESSAGES || chars > MAX_HISTORY_CHARS)) {
      // Drop the oldest exchange (user + assistant) together.
      for (const m of this.history.splice(0, 2)) chars -= m.content.length;
    }
  }

  /** Sends a frame; waits for it to be written only when the client is slow (backpressure on the provider stream). */
  private send(frame: ServerFrame): Promise<void> | void {
    return this.sendText(JSON.stringify(frame));
  }

  private sendText(text: string): Promise<void> | void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount < SEND_HIGH_WATER_BYTES) {
      ws.send(text, SEND_OPTIONS);
      return;
    }
    return new Promise<void>((resolve) => ws.send(text, SEND_OPTIONS, () => resolve()));
  }
}

/** The reason a running turn is aborted when its session ends. */
export class SessionClosing extends Error {
  constructor(readonly code: number) {
    super(`session closing (${code})`);
    this.name = 'SessionClosing';
  }
}
