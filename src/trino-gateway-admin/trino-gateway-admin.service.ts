import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log.service';
import { ProblemException, problem } from '../common/problem';
import { auditActor, type UpstreamCaller } from '../token-exchange/upstream-caller';
import type { GatewayBackendActionDto, GatewayBackendDto, GatewayBackendInputDto } from './dto/gateway-backend.dto';
import type { RoutingRuleDto, RoutingRuleInputDto } from './dto/routing-rule.dto';
import { TrinoGatewayClient } from './trino-gateway.client';

/**
 * Trino Gateway administration on behalf of a caller. Reads go straight through; every write is
 * an audit event (actor, action, target, outcome) whether it succeeds or fails.
 */
@Injectable()
export class TrinoGatewayAdminService {
  constructor(
    private readonly gateway: TrinoGatewayClient,
    private readonly audit: AuditLog,
  ) {}

  listBackends(caller: UpstreamCaller): Promise<GatewayBackendDto[]> {
    return this.gateway.listBackends(caller);
  }

  listActiveBackends(caller: UpstreamCaller): Promise<GatewayBackendDto[]> {
    return this.gateway.listActiveBackends(caller);
  }

  getRoutingRules(caller: UpstreamCaller): Promise<RoutingRuleDto[]> {
    return this.gateway.getRoutingRules(caller);
  }

  /** Adds a backend; 409 when one of that name exists (the gateway itself would fail with a 500). */
  addBackend(caller: UpstreamCaller, backend: GatewayBackendInputDto): Promise<GatewayBackendDto> {
    return this.audited(caller, 'trino-gateway.backend.add', backend.name, async () => {
      const existing = await this.gateway.listBackends(caller);
      if (existing.some((b) => b.name === backend.name)) throw new ProblemException(409, 'conflict', `a backend named ${backend.name} exists (use modify/update)`);
      return this.gateway.addBackend(caller, backendBody(backend));
    });
  }

  /** Updates a backend (the gateway creates it when it does not exist). */
  updateBackend(caller: UpstreamCaller, backend: GatewayBackendInputDto): Promise<GatewayBackendDto> {
    return this.audited(caller, 'trino-gateway.backend.update', backend.name, () => this.gateway.updateBackend(caller, backendBody(backend)));
  }

  /** Deletes a backend; 404 when there is none of that name (the gateway itself answers 200 either way). */
  deleteBackend(caller: UpstreamCaller, name: string): Promise<GatewayBackendActionDto> {
    return this.audited(caller, 'trino-gateway.backend.delete', name, async () => {
      const existing = await this.gateway.listBackends(caller);
      if (!existing.some((b) => b.name === name)) throw problem.notFound(`no backend named ${name}`);
      await this.gateway.deleteBackend(caller, name);
      return { name, action: 'deleted' as const };
    });
  }

  setActive(caller: UpstreamCaller, name: string, active: boolean): Promise<GatewayBackendActionDto> {
    return this.audited(caller, `trino-gateway.backend.${active ? 'activate' : 'deactivate'}`, name, async () => {
      if (!(await this.gateway.setActive(caller, name, active))) throw problem.notFound(`no backend named ${name}`);
      return { name, action: active ? ('activated' as const) : ('deactivated' as const) };
    });
  }

  /** Replaces the routing rule of that name; 404 when the gateway has none (it then changes nothing). */
  updateRoutingRule(caller: UpstreamCaller, rule: RoutingRuleInputDto): Promise<RoutingRuleDto[]> {
    return this.audited(caller, 'trino-gateway.routing-rule.update', rule.name, async () => {
      const body = { name: rule.name, description: rule.description ?? '', priority: rule.priority ?? 0, actions: rule.actions ?? [], condition: rule.condition };
      const rules = await this.gateway.updateRoutingRule(caller, body);
      if (!rules.some((r) => r.name === rule.name)) throw problem.notFound(`no routing rule named ${rule.name}`);
      return rules;
    });
  }

  private async audited<T>(caller: UpstreamCaller, action: string, target: string, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.audit.record({
        action,
        actor: auditActor(caller),
        target,
        outcome: 'success',
        requestId: caller.requestId,
        level: caller.via === 'break-glass' ? 'alert' : 'info',
      });
      return result;
    } catch (err) {
      const reason = err instanceof ProblemException ? err.reason : 'internal_error';
      const outcome = err instanceof ProblemException && err.getStatus() === 403 ? 'denied' : 'failure';
      this.audit.record({
        action,
        actor: auditActor(caller),
        target,
        outcome,
        reason,
        requestId: caller.requestId,
        level: caller.via === 'break-glass' ? 'alert' : 'warn',
      });
      throw err;
    }
  }
}

/** Only the fields the gateway knows, absent ones left to its defaults. */
function backendBody(b: GatewayBackendInputDto): Record<string, unknown> {
  const body: Record<string, unknown> = { name: b.name, proxyTo: b.proxyTo };
  if (b.active !== undefined) body.active = b.active;
  if (b.routingGroup !== undefined) body.routingGroup = b.routingGroup;
  if (b.externalUrl !== undefined) body.externalUrl = b.externalUrl;
  return body;
}
