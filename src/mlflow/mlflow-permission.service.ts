import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { APP_CONFIG, MLFLOW_PERMISSION_LEVELS, type AppConfig, type MlflowPermissionLevel } from '../config/app-config';
import { StateStore } from '../state/state-store';
import { MlflowClient } from './mlflow.client';

/**
 * What a grant is on: an experiment (by id), a registered model of the model registry (by name; prompts
 * are registered models too), or a scorer (`<experiment id>/<name>`: its registrant's MANAGE, mlflow-scorers.ts).
 */
export type GrantKind = 'experiment' | 'registered-model' | 'scorer';

/** A per-experiment (or per-registered-model) grant as stored. */
export interface ExperimentGrant {
  username: string;
  permission: MlflowPermissionLevel;
  grantedBy: string;
  grantedAt: string;
}

export interface EffectivePermission {
  permission: MlflowPermissionLevel;
  /** The caller's own grant on the experiment, if any. */
  grant?: MlflowPermissionLevel;
  /** What the caller's groups and roles give on every experiment (MLFLOW_GROUP_PERMISSIONS). */
  groupDefault: MlflowPermissionLevel;
}

/** A run never moves to another experiment: its experiment is cached for a day. */
const RUN_EXPERIMENT_TTL_MS = 24 * 3600_000;
/** Experiments keep the keys they always had; a registered model's name is encoded (it may hold any character but `/` and `:`). */
const PREFIX: Readonly<Record<GrantKind, string>> = {
  experiment: 'mlflow:grant',
  'registered-model': 'mlflow:registered-model-grant',
  scorer: 'mlflow:scorer-grant',
};
const GRANTEES: Readonly<Record<GrantKind, string>> = {
  experiment: 'mlflow:grantees',
  'registered-model': 'mlflow:registered-model-grantees',
  scorer: 'mlflow:scorer-grantees',
};
const keyOf = (kind: GrantKind, id: string) => (kind === 'experiment' ? id : encodeURIComponent(id));
const grantKey = (kind: GrantKind, id: string, username: string) => `${PREFIX[kind]}:${keyOf(kind, id)}:${username}`;
const granteesKey = (kind: GrantKind, id: string) => `${GRANTEES[kind]}:${keyOf(kind, id)}`;
const runKey = (runId: string) => `mlflow:run-experiment:${runId}`;
const modelKey = (modelId: string) => `mlflow:model-experiment:${modelId}`;
const traceKey = (traceId: string) => `mlflow:trace-experiment:${traceId}`;

export const rank = (p: MlflowPermissionLevel): number => MLFLOW_PERMISSION_LEVELS.indexOf(p);
export const atLeast = (have: MlflowPermissionLevel, need: MlflowPermissionLevel): boolean => rank(have) >= rank(need);
const max = (a: MlflowPermissionLevel, b: MlflowPermissionLevel) => (rank(a) >= rank(b) ? a : b);

/**
 * Experiment permissions READ < EDIT < MANAGE. What a caller has on an experiment is the higher of
 * their groups' and roles' default (MLFLOW_GROUP_PERMISSIONS, on every experiment) and their own
 * grant on that experiment (StateStore); with neither it is NO_PERMISSIONS — fail closed. Grants
 * only add: nobody can be locked out of what their groups give, and the creator of an experiment
 * gets MANAGE on it. Grants are by username (the token's preferred_username). Registered models
 * (the model registry, prompts included) have the same levels, defaults and grants, by name (the
 * `kind` argument, experiments when left out).
 */
@Injectable()
export class MlflowPermissionService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: StateStore,
    private readonly client: MlflowClient,
  ) {}

  groupDefault(principal: Principal): MlflowPermissionLevel {
    let level: MlflowPermissionLevel = 'NO_PERMISSIONS';
    for (const [name, permission] of this.config.mlflow.groupPermissions) {
      if (principal.groups.includes(name) || principal.roles.includes(name)) level = max(level, permission);
    }
    return level;
  }

  async effective(principal: Principal, id: string, kind: GrantKind = 'experiment'): Promise<EffectivePermission> {
    const groupDefault = this.groupDefault(principal);
    const grant = principal.username ? (await this.grant(id, principal.username, kind))?.permission : undefined;
    return { permission: grant ? max(grant, groupDefault) : groupDefault, grant, groupDefault };
  }

  async can(principal: Principal, id: string, need: MlflowPermissionLevel, kind: GrantKind = 'experiment'): Promise<boolean> {
    if (atLeast(this.groupDefault(principal), need)) return true;
    return atLeast((await this.effective(principal, id, kind)).permission, need);
  }

  /** The subset of `ids` the caller may read (order kept). */
  async readable(principal: Principal, ids: string[], kind: GrantKind = 'experiment'): Promise<Set<string>> {
    if (atLeast(this.groupDefault(principal), 'READ')) return new Set(ids);
    const unique = [...new Set(ids)];
    const allowed = await Promise.all(unique.map((id) => this.can(principal, id, 'READ', kind)));
    return new Set(unique.filter((_, i) => allowed[i]));
  }

  async grant(id: string, username: string, kind: GrantKind = 'experiment'): Promise<ExperimentGrant | undefined> {
    return this.store.getJson<ExperimentGrant>(grantKey(kind, id, username));
  }

  async grants(id: string, kind: GrantKind = 'experiment'): Promise<ExperimentGrant[]> {
    const names = (await this.store.sMembers(granteesKey(kind, id))).sort();
    const found = await Promise.all(names.map((n) => this.grant(id, n, kind)));
    return found.filter((g): g is ExperimentGrant => g !== undefined);
  }

  async setGrant(id: string, username: string, permission: MlflowPermissionLevel, grantedBy: string, kind: GrantKind = 'experiment'): Promise<ExperimentGrant> {
    const grant: ExperimentGrant = { username, permission, grantedBy, grantedAt: new Date().toISOString() };
    await this.store.setJson(grantKey(kind, id, username), grant);
    await this.store.sAdd(granteesKey(kind, id), username);
    return grant;
  }

  /** Removes a grant; false when there was none. */
  async removeGrant(id: string, username: string, kind: GrantKind = 'experiment'): Promise<boolean> {
    const existed = (await this.grant(id, username, kind)) !== undefined;
    await this.store.del(grantKey(kind, id, username));
    await this.store.sRem(granteesKey(kind, id), username);
    return existed;
  }

  /** Every grant on a registered model removed (it was deleted: a new model of that name starts with its creator's grant alone). */
  async forgetRegisteredModel(name: string): Promise<void> {
    await this.forget(name, 'registered-model');
  }

  /** Every grant on what `id` names removed (it was deleted). */
  async forget(id: string, kind: GrantKind): Promise<void> {
    for (const g of await this.grants(id, kind)) await this.removeGrant(id, g.username, kind);
  }

  /** A registered model was created: its creator's MANAGE is its only grant (nothing left from an earlier model of that name). */
  async registeredModelCreated(name: string, creator: string): Promise<void> {
    await this.forgetRegisteredModel(name);
    await this.setGrant(name, creator, 'MANAGE', creator, 'registered-model');
  }

  /** A registered model was renamed: its grants follow it. */
  async registeredModelRenamed(from: string, to: string): Promise<void> {
    if (from === to) return;
    const moved = await this.grants(from, 'registered-model');
    await this.forgetRegisteredModel(to);
    for (const g of moved) {
      await this.store.setJson(grantKey('registered-model', to, g.username), g);
      await this.store.sAdd(granteesKey('registered-model', to), g.username);
    }
    await this.forgetRegisteredModel(from);
  }

  /** The experiment of a run (cached); undefined when MLflow does not know the run. */
  async experimentOfRun(runId: string): Promise<string | undefined> {
    const cached = await this.store.getJson<string>(runKey(runId));
    if (cached) return cached;
    const experimentId = await this.client.experimentOfRun(runId);
    if (experimentId) await this.store.setJson(runKey(runId), experimentId, RUN_EXPERIMENT_TTL_MS);
    return experimentId;
  }

  /** The experiment of a logged model (cached: a logged model never moves either); undefined when MLflow does not know it. */
  async experimentOfModel(modelId: string): Promise<string | undefined> {
    const cached = await this.store.getJson<string>(modelKey(modelId));
    if (cached) return cached;
    const experimentId = await this.client.experimentOfModel(modelId);
    if (experimentId) await this.store.setJson(modelKey(modelId), experimentId, RUN_EXPERIMENT_TTL_MS);
    return experimentId;
  }

  /** The experiment of a trace (cached: through the BFF a trace never moves, see mlflow-traces.ts); undefined when MLflow does not know it. */
  async experimentOfTrace(traceId: string): Promise<string | undefined> {
    const cached = await this.store.getJson<string>(traceKey(traceId));
    if (cached) return cached;
    const experimentId = await this.client.experimentOfTrace(traceId);
    if (experimentId) await this.store.setJson(traceKey(traceId), experimentId, RUN_EXPERIMENT_TTL_MS);
    return experimentId;
  }

  /** Remembers the experiment of a logged model the BFF just saw created, as MLflow's answer names it. */
  async rememberModel(modelId: string, experimentId: string): Promise<void> {
    await this.store.setJson(modelKey(modelId), experimentId, RUN_EXPERIMENT_TTL_MS);
  }

  /** Remembers the experiment of a run the BFF just saw created, as MLflow's answer names it (never as the request did). */
  async rememberRun(runId: string, experimentId: string): Promise<void> {
    await this.store.setJson(runKey(runId), experimentId, RUN_EXPERIMENT_TTL_MS);
  }
}
