import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuditLog } from '../audit/audit-log.service';
import type { Principal } from '../auth/principal';
import { problem } from '../common/problem';
import type { MlflowPermissionLevel } from '../config/app-config';
import { MlflowPermissionService, type EffectivePermission, type ExperimentGrant, type GrantKind } from './mlflow-permission.service';
import { MlflowClient } from './mlflow.client';

const NOUN: Readonly<Record<GrantKind, string>> = { experiment: 'experiment', 'registered-model': 'registered model', scorer: 'scorer' };

/**
 * The grant API's decisions, the same for experiments and registered models: MANAGE on the
 * resource to list, read, set or remove grants; a grant only on what exists in MLflow; every
 * change an audit event (`experiment/1/user/alice=EDIT`, `registered-model/churn/user/alice`).
 */
@Injectable()
export class MlflowGrants {
  constructor(
    private readonly permissions: MlflowPermissionService,
    private readonly client: MlflowClient,
    private readonly audit: AuditLog,
  ) {}

  effective(kind: GrantKind, id: string, principal: Principal): Promise<EffectivePermission> {
    return this.permissions.effective(principal, id, kind);
  }

  async list(kind: GrantKind, id: string, principal: Principal): Promise<ExperimentGrant[]> {
    await this.requireManage(kind, id, principal);
    return this.permissions.grants(id, kind);
  }

  async one(kind: GrantKind, id: string, username: string, principal: Principal): Promise<ExperimentGrant> {
    await this.requireManage(kind, id, principal);
    const grant = await this.permissions.grant(id, username, kind);
    if (!grant) throw problem.notFound(`${username} has no grant on ${NOUN[kind]} ${id}`);
    return grant;
  }

  async set(kind: GrantKind, id: string, username: string, permission: MlflowPermissionLevel, principal: Principal, req: FastifyRequest): Promise<ExperimentGrant> {
    await this.requireManage(kind, id, principal);
    const exists = kind === 'experiment' ? await this.client.experimentExists(id) : await this.client.registeredModelExists(id);
    if (!exists) throw problem.notFound(`no ${NOUN[kind]} ${id}`);
    const grant = await this.permissions.setGrant(id, username, permission, principal.username ?? principal.subject, kind);
    this.record('mlflow.permission.grant', kind, id, username, principal, req, permission);
    return grant;
  }

  async remove(kind: GrantKind, id: string, username: string, principal: Principal, req: FastifyRequest): Promise<void> {
    await this.requireManage(kind, id, principal);
    if (!(await this.permissions.removeGrant(id, username, kind))) throw problem.notFound(`${username} has no grant on ${NOUN[kind]} ${id}`);
    this.record('mlflow.permission.revoke', kind, id, username, principal, req);
  }

  private async requireManage(kind: GrantKind, id: string, principal: Principal): Promise<void> {
    if (!(await this.permissions.can(principal, id, 'MANAGE', kind))) {
      throw problem.forbidden('insufficient_role', `MANAGE on ${NOUN[kind]} ${id} is needed`);
    }
  }

  private record(action: string, kind: GrantKind, id: string, username: string, principal: Principal, req: FastifyRequest, permission?: string): void {
    this.audit.record({
      action,
      actor: { via: 'bearer', subject: principal.subject, username: principal.username },
      target: `${kind}/${id}/user/${username}${permission ? `=${permission}` : ''}`,
      outcome: 'success',
      requestId: String(req.id),
    });
  }
}
