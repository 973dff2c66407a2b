import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ProblemException, problem } from '../common/problem';
import { UpstreamTransport, type UpstreamAnswer } from '../common/upstream-transport';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { GatewayBackendDto } from './dto/gateway-backend.dto';
import type { RoutingRuleDto } from './dto/routing-rule.dto';
import type { UpstreamCaller } from '../token-exchange/upstream-caller';

const UPSTREAM = 'Trino Gateway';

/**
 * The Trino Gateway's administration API (trino-gateway's GatewayWebAppResource and EntityEditorResource), with its real paths and shapes:
 * backend routes answer plain JSON, `/webapp/*` answers inside `{code, msg, data}`, a missing
 * role comes back as HTTP 200 `{"code":401}` (turned into a 403 here), modify/delete takes the
 * raw backend name as its body. Transport failures and 5xx are 502, timeouts 504.
 */
@Injectable()
export class TrinoGatewayClient implements OnApplicationShutdown {
  private readonly log = new Logger('TrinoGatewayClient');
  private readonly baseUrl?: string;
  private readonly basicAuth?: string;
  private readonly transport: UpstreamTransport;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.baseUrl = config.trinoGateway.url;
    this.basicAuth = config.trinoGateway.basicAuth ? `Basic ${Buffer.from(config.trinoGateway.basicAuth, 'utf8').toString('base64')}` : undefined;
    const timeoutMs = config.trinoGateway.timeoutMs;
    this.transport = new UpstreamTransport({ name: UPSTREAM, headersTimeoutMs: timeoutMs, bodyTimeoutMs: timeoutMs });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.transport.close();
  }

  /** Base URL of the gateway (readiness), undefined when not configured. */
  get url(): string | undefined {
    return this.baseUrl;
  }

  async listBackends(caller: UpstreamCaller): Promise<GatewayBackendDto[]> {
    return backendList(await this.json(caller, 'GET', '/gateway/backend/all'));
  }

  async listActiveBackends(caller: UpstreamCaller): Promise<GatewayBackendDto[]> {
    return backendList(await this.json(caller, 'GET', '/gateway/backend/active'));
  }

  async addBackend(caller: UpstreamCaller, backend: object): Promise<GatewayBackendDto> {
    return backendOf(await this.json(caller, 'POST', '/gateway/backend/modify/add', { json: backend }));
  }

  async updateBackend(caller: UpstreamCaller, backend: object): Promise<GatewayBackendDto> {
    return backendOf(await this.json(caller, 'POST', '/gateway/backend/modify/update', { json: backend }));
  }

  /** The gateway takes the raw name as the body and answers 200 with nothing, whether or not it existed. */
  async deleteBackend(caller: UpstreamCaller, name: string): Promise<void> {
    await this.expectEmpty(caller, 'POST', '/gateway/backend/modify/delete', { text: name });
  }

  /** False when the gateway knows no backend of that name (its 404). */
  async setActive(caller: UpstreamCaller, name: string, active: boolean): Promise<boolean> {
    const path = `/gateway/backend/${active ? 'activate' : 'deactivate'}/${encodeURIComponent(name)}`;
    const answer = await this.send(caller, 'POST', path);
    if (answer.status === 404) return false;
    this.refusal(answer);
    if (answer.status !== 200) throw this.unexpected(answer.status, path);
    return true;
  }

  async getRoutingRules(caller: UpstreamCaller): Promise<RoutingRuleDto[]> {
    return ruleList(await this.envelope(caller, 'GET', '/webapp/getRoutingRules'));
  }

  /** Replaces the rule with the same name; answers every rule. */
  async updateRoutingRule(caller: UpstreamCaller, rule: object): Promise<RoutingRuleDto[]> {
    return ruleList(await this.envelope(caller, 'POST', '/webapp/updateRoutingRules', { json: rule }));
  }

  private async json(caller: UpstreamCaller, method: string, path: string, body?: { json?: unknown; text?: string }): Promise<unknown> {
    const answer = await this.send(caller, method, path, body);
    this.refusal(answer);
    if (answer.status !== 200) throw this.unexpected(answer.status, path);
    return parse(answer.text);
  }

  private async expectEmpty(caller: UpstreamCaller, method: string, path: string, body?: { json?: unknown; text?: string }): Promise<void> {
    const answer = await this.send(caller, method, path, body);
    this.refusal(answer);
    if (answer.status !== 200) throw this.unexpected(answer.status, path);
  }

  /** `/webapp/*`: the `{code, msg, data}` envelope; the data on code 200. */
  private async envelope(caller: UpstreamCaller, method: string, path: string, body?: { json?: unknown }): Promise<unknown> {
    const answer = await this.send(caller, method, path, body);
    this.refusal(answer);
    if (answer.status === 204) {
      // The gateway's answer when its routing rules are not file-based (rulesType EXTERNAL).
      throw new ProblemException(409, 'conflict', 'the Trino Gateway does not manage its routing rules itself (rulesType is not FILE)');
    }
    if (answer.status !== 200) throw this.unexpected(answer.status, path);
    const value = parse(answer.text) as { code?: unknown; data?: unknown } | null;
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw problem.badGateway(`${UPSTREAM} answered an unexpected body`);
    if (value.code !== 200) {
      this.log.warn(
        { event: 'trino_gateway.envelope', path, code: typeof value.code === 'number' ? value.code : undefined },
        'Trino Gateway answered a failure envelope',
      );
      throw new ProblemException(502, 'upstream_error', `${UPSTREAM} could not perform the operation`);
    }
    return value.data;
  }

  /**
   * The gateway's authorization refusal: HTTP 200 with `{"code":401,"msg":"Unauthorized"}` when the
   * caller lacks the gateway role (a real 403 here), HTTP 401/403 when it did not accept the
   * credentials at all (the BFF's configuration or the gateway's is wrong: 502).
   */
  private refusal(answer: UpstreamAnswer): void {
    if (answer.status === 401 || answer.status === 403) {
      this.log.error({ event: 'trino_gateway.unauthenticated', status: answer.status }, 'Trino Gateway did not accept the credentials the BFF sent');
      throw new ProblemException(502, 'upstream_error', `${UPSTREAM} did not accept the BFF's credentials for this caller`);
    }
    if (answer.status === 200 && answer.text.startsWith('{')) {
      let value: unknown;
      try {
        value = JSON.parse(answer.text);
      } catch {
        return;
      }
      const v = value as { code?: unknown; name?: unknown };
      if (v && typeof v === 'object' && v.code === 401 && v.name === undefined) {
        throw new ProblemException(403, 'insufficient_role', `${UPSTREAM} refused: the caller lacks the gateway role this operation needs`);
      }
    }
  }

  private unexpected(status: number, path: string): ProblemException {
    if (status >= 500) return problem.badGateway(`${UPSTREAM} answered ${status}`);
    this.log.warn({ event: 'trino_gateway.unexpected_status', status, path }, 'Trino Gateway answered an unexpected status');
    return new ProblemException(502, 'upstream_error', `${UPSTREAM} answered ${status}`);
  }

  /**
   * Sends as the caller: a bearer caller's token exchanged for TRINO_GATEWAY_AUDIENCE (exchanged only here, as the
   * request is sent: never for a request refused before it), or for a break-glass caller TRINO_GATEWAY_BASIC_AUTH.
   */
  private async send(caller: UpstreamCaller, method: string, path: string, body?: { json?: unknown; text?: string }): Promise<UpstreamAnswer> {
    if (!this.baseUrl) throw problem.unavailable('upstream_unavailable', 'TRINO_GATEWAY_URL is not configured');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (caller.via === 'bearer') headers.authorization = `Bearer ${await caller.token.get()}`;
    else {
      if (!this.basicAuth) throw problem.unavailable('upstream_unavailable', 'TRINO_GATEWAY_BASIC_AUTH is not configured');
      headers.authorization = this.basicAuth;
    }
    let payload: string | undefined;
    if (body?.json !== undefined) {
      payload = JSON.stringify(body.json);
      headers['content-type'] = 'application/json';
    } else if (body?.text !== undefined) {
      payload = body.text;
      headers['content-type'] = 'text/plain; charset=utf-8';
    }
    return this.transport.fetchText({ method, url: `${this.baseUrl}${path}`, headers, body: payload });
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw problem.badGateway(`${UPSTREAM} answered a malformed body`);
  }
}

const str = (v: unknown): v is string => typeof v === 'string';

function backendOf(value: unknown): GatewayBackendDto {
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== 'object' || !str(v.name) || !str(v.proxyTo)) throw problem.badGateway(`${UPSTREAM} answered an unexpected backend shape`);
  return {
    name: v.name,
    proxyTo: v.proxyTo,
    active: typeof v.active === 'boolean' ? v.active : true,
    routingGroup: str(v.routingGroup) ? v.routingGroup : 'adhoc',
    externalUrl: str(v.externalUrl) ? v.externalUrl : v.proxyTo,
  };
}

function backendList(value: unknown): GatewayBackendDto[] {
  if (!Array.isArray(value)) throw problem.badGateway(`${UPSTREAM} answered an unexpected body (not a list of backends)`);
  return value.map(backendOf);
}

function ruleList(value: unknown): RoutingRuleDto[] {
  if (!Array.isArray(value)) throw problem.badGateway(`${UPSTREAM} answered an unexpected body (not a list of routing rules)`);
  return value.map((r: unknown) => {
    const v = r as Record<string, unknown> | null;
    if (!v || typeof v !== 'object' || !str(v.name) || !str(v.condition)) throw problem.badGateway(`${UPSTREAM} answered an unexpected routing rule shape`);
    return {
      name: v.name,
      description: str(v.description) ? v.description : '',
      priority: typeof v.priority === 'number' ? v.priority : 0,
      actions: Array.isArray(v.actions) ? v.actions.filter(str) : [],
      condition: v.condition,
    };
  });
}
