import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Gauge, type Counter } from 'prom-client';
import { WebSocketServer } from 'ws';
import { AccessDecider } from '../auth/access-decider.service';
import { AGENTS_POLICY } from '../auth/access-policy';
import type { Presented } from '../auth/credentials';
import type { Principal } from '../auth/principal';
import { Revocations } from '../auth/revocation.service';
import { queryValues } from '../auth/token-source';
import { MetricsService } from '../common/metrics.service';
import { PROBLEM_CONTENT_TYPE, problemBody, type ProblemReason } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { AGENT_ID, type AgentRecord } from './agent.model';
import { AgentSession, type SessionDeps } from './agent-session';
import { AgentsService } from './agents.service';
import { LlmProvider } from './llm-provider';
import { OriginPolicy } from './origin-policy';
import { QuotaService, type QuotaState } from './quota.service';
import { CLOSE, MAX_FRAME_BYTES } from './ws-protocol';

export const REACT_ROUTE = '/api/agents/:id/react';
const REACT_PATH = /^\/api\/agents\/([^/]+)\/react$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/**
 * The heartbeat (AGENT_WS_HEARTBEAT_MS) runs in slices: every session is pinged once per period, but a
 * slice of the sessions at a time (up to 30 slices, at most one tick per second), not all sessions in one
 * tick (1,000 pings in one go would hold the event loop for tens of milliseconds while answers stream).
 */
const MAX_HEARTBEAT_SLICES = 30;
/** How long shutdown waits for clients to answer the 1001 close before cutting them off. */
const DRAIN_TIMEOUT_MS = 3000;
/** A refused upgrade's socket is destroyed this long after the answer, should the client not hang up. */
const REFUSAL_LINGER_MS = 1000;

interface Refusal {
  status: number;
  reason: ProblemReason;
  detail: string;
  /** Already logged by the AccessDecider (with sub, iss and rule). */
  decided?: true;
}

interface Admission {
  principal: Principal;
  agent: AgentRecord;
  quota: QuotaState;
}

const refusal = (status: number, reason: ProblemReason, detail: string): Refusal => ({ status, reason, detail });

/**
 * The agent conversation WebSocket, WS /api/agents/:id/react, on the `ws` library attached to
 * the Node HTTP server under Fastify ('upgrade' event, noServer). The upgrade is authenticated
 * and authorized before the 101 — by the same AccessDecider and AGENTS_POLICY as the REST routes
 * and /api/auth — and a refusal is a real HTTP 400/401/403/404 answer with a problem+json body,
 * as the HTTP routes give it:
 *
 *   method GET → path → Origin (OriginPolicy, 403 origin_not_allowed) → the identity chain,
 *   AccessDecider.decide(…, AGENTS_POLICY), on the credential presented (?access-token=, Authorization: Bearer,
 *   or a single-use ?ticket= from POST /api/agents/:id/ws-ticket, redeemed there; two of them: 400; 401/403)
 *   → agent id (400) → the token has life left (401)
 *   → the agent is the caller's or the caller is ADMIN (404) → 101 Switching Protocols.
 *
 * Sessions are drained on shutdown (close 1001) and kept honest by a ping/pong heartbeat.
 */
@Injectable()
export class AgentGateway implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('AgentGateway');
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false });
  private readonly sessions = new Set<AgentSession>();
  private readonly origins: OriginPolicy;
  private readonly upgrades: Counter<'outcome' | 'status'>;
  private readonly closes: Counter<'code'>;
  private readonly deps: SessionDeps;
  private server?: Server;
  private heartbeat?: NodeJS.Timeout;
  private readonly heartbeatMs: number;
  private readonly heartbeatSlices: number;
  private beats = 0;
  /** Heartbeat slice of each session (round-robin as they open). */
  private readonly slices = new WeakMap<AgentSession, number>();
  private opened = 0;
  private draining = false;
  private drained?: () => void;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly decider: AccessDecider,
    private readonly agents: AgentsService,
    private readonly quota: QuotaService,
    private readonly revocations: Revocations,
    llm: LlmProvider,
    metrics: MetricsService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.origins = new OriginPolicy(config);
    this.heartbeatMs = config.agents.heartbeatMs;
    this.heartbeatSlices = Math.max(1, Math.min(MAX_HEARTBEAT_SLICES, Math.floor(this.heartbeatMs / 1000)));
    this.upgrades = metrics.counter('bff_agent_ws_upgrades_total', 'Agent WebSocket upgrades by outcome and HTTP status', ['outcome', 'status']);
    this.closes = metrics.counter('bff_agent_ws_closed_total', 'Agent WebSocket sessions ended, by close code', ['code']);
    const sessions = this.sessions;
    if (!metrics.registry.getSingleMetric('bff_agent_ws_sessions')) {
      new Gauge({
        name: 'bff_agent_ws_sessions',
        help: 'Open agent WebSocket sessions',
        registers: [metrics.registry],
        collect() {
          this.set(sessions.size);
        },
      });
    }
    this.deps = {
      agents,
      quota,
      llm,
      models: config.llm.models,
      log: this.log,
      revoked: (p) => decider.revokedSinceNow(p),
      turns: metrics.counter('bff_agent_turns_total', 'Agent conversation turns by outcome', ['outcome']),
      tokens: metrics.counter('bff_agent_tokens_total', 'LLM tokens charged to user quotas'),
    };
  }

  onApplicationBootstrap(): void {
    this.server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    this.server.on('upgrade', this.onUpgrade);
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs / this.heartbeatSlices);
    this.heartbeat.unref();
    // A logout (any replica) closes this replica's sessions of the logged-out session or user at once.
    this.revocations.listen({
      local: () => {
        for (const s of this.sessions) if (this.decider.revokedSince(s.principal)) s.close(CLOSE.tokenRevoked, 'token_revoked');
      },
    });
  }

  /** Before the HTTP server closes: every session gets 1001, the clients get a moment to answer, the rest is cut. */
  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    clearInterval(this.heartbeat);
    if (this.sessions.size > 0) {
      const open = this.sessions.size;
      const done = new Promise<void>((resolve) => (this.drained = resolve));
      for (const s of this.sessions) s.close(CLOSE.goingAway, 'server shutting down');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)))]);
      clearTimeout(timer);
      for (const s of this.sessions) s.ws.terminate();
      this.log.log({ event: 'agent.ws.drained', sessions: open });
    }
    this.server?.off('upgrade', this.onUpgrade);
    this.wss.close();
  }

  /** Open sessions (for tests, metrics and the bench). */
  get openSessions(): number {
    return this.sessions.size;
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '/').split('?')[0];
    const match = REACT_PATH.exec(path);
    // Another module may serve other WebSocket paths: answer unknown paths only when alone.
    if (!match && (this.server?.listenerCount('upgrade') ?? 1) > 1) return;
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    socket.on('error', () => socket.destroy());
    const instance = match ? `/api/agents/${match[1]}/react` : path;
    if (!match) return this.refuse(socket, refusal(404, 'not_found', 'No such route'), instance, requestId);
    this.admit(req, match[1])
      .then((outcome) => {
        if ('status' in outcome) return this.refuse(socket, outcome, instance, requestId);
        if (socket.destroyed) return;
        if (this.draining) return this.refuse(socket, refusal(503, 'upstream_unavailable', 'the server is shutting down'), instance, requestId);
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          this.upgrades.inc({ outcome: 'accepted', status: 101 });
          const session = new AgentSession(ws, outcome.principal, outcome.agent, this.deps, (s, code) => this.ended(s, code));
          this.sessions.add(session);
          this.slices.set(session, this.opened++ % this.heartbeatSlices);
          session.start(outcome.quota);
          this.log.log({ event: 'agent.ws.opened', agentId: outcome.agent.id, sub: outcome.principal.subject, requestId });
        });
      })
      .catch((err: unknown) => {
        this.log.error({ event: 'agent.ws.upgrade_failed', requestId, err });
        this.refuse(socket, refusal(500, 'internal_error', `Unexpected error; quote request id ${requestId}`), instance, requestId);
      });
  };

  /** Every check of the upgrade, in the order of the HTTP pipeline. */
  private async admit(req: IncomingMessage, id: string): Promise<Admission | Refusal> {
    if (req.method !== 'GET') return refusal(405, 'method_not_allowed', 'a WebSocket upgrade is a GET');
    if (this.draining) return refusal(503, 'upstream_unavailable', 'the server is shutting down');
    const originProblem = this.origins.check(req.headers);
    if (originProblem) return refusal(403, 'origin_not_allowed', originProblem);

    // The ticket is redeemed (consumed) by the chain, whatever the outcome.
    const tickets = queryValues(req.url, 'ticket');
    const presented: Presented = {
      authorization: req.headers.authorization,
      queryTokens: queryValues(req.url, 'access-token'),
      ...(tickets.length > 0 ? { wsTicket: { agentId: id, ticket: tickets[0], ambiguous: tickets.length > 1, redeem: true } } : {}),
    };
    const decision = await this.decider.decide(presented, AGENTS_POLICY, REACT_ROUTE);
    if (!decision.allow) return { ...refusal(decision.status, decision.reason, decision.detail), decided: true };
    const principal = decision.principal!;

    if (!AGENT_ID.test(id)) return refusal(400, 'validation_failed', 'id must be an agent id (UUID)');
    // Within AUTH_CLOCK_SKEW_S a token is still accepted, but a session opened now would close at once.
    if (principal.expiresAt * 1000 <= Date.now()) return refusal(401, 'token_expired', 'the token has expired');
    const [agent, quota] = await Promise.all([this.agents.find(principal, id), this.quota.state(principal)]);
    if (!agent) return refusal(404, 'not_found', 'no such agent');
    return { principal, agent, quota };
  }

  /** Answers the upgrade request with a real HTTP error (problem+json), then hangs up. */
  private refuse(socket: Duplex, r: Refusal, instance: string, requestId: string): void {
    this.upgrades.inc({ outcome: 'refused', status: r.status });
    if (!r.decided) {
      // Never the URL: it may hold a token or a ticket.
      this.log.log({ event: 'agent.ws.refused', status: r.status, reason: r.reason, route: REACT_ROUTE, requestId });
    }
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(problemBody(r.status, r.reason, r.detail, instance, requestId));
    const head = [
      `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Error'}`,
      `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
      `Content-Length: ${Buffer.byteLength(body)}`,
      `x-request-id: ${requestId}`,
      'Cache-Control: no-store',
      'Connection: close',
    ];
    if (r.status === 401) head.push('WWW-Authenticate: Bearer realm="platform-bff"');
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  }

  private ended(session: AgentSession, code: number): void {
    this.sessions.delete(session);
    this.closes.inc({ code: String(code) });
    this.log.log({ event: 'agent.ws.closed', agentId: session.agentId, sub: session.principal.subject, code });
    if (this.sessions.size === 0) this.drained?.();
  }

  /** One slice of the heartbeat: the sessions of this slice that did not answer the last ping are cut, the others pinged. */
  private beat(): void {
    const slice = this.beats++ % this.heartbeatSlices;
    for (const s of this.sessions) {
      if (this.slices.get(s) !== slice) continue;
      if (!s.alive) {
        s.ws.terminate();
        continue;
      }
      s.alive = false;
      s.ws.ping();
    }
  }
}
