import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { APP_CONFIG, MLFLOW_PERMISSION_LEVELS, type AppConfig, type MlflowPermissionLevel } from '../config/app-config';
import { StateStore } from '../state/state-store';
import { MlflowClient } from './mlflow.client';

/** A per-experiment grant as stored. */
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
const grantKey = (experimentId: string, username: string) => `mlflow:grant:${experimentId}:${username}`;
const granteesKey = (experimentId: string) => `mlflow:grantees:${experimentId}`;
const runKey = (runId: string) => `mlflow:run-experiment:${runId}`;
const modelKey = (modelId: string) => `mlflow:model-experiment:${modelId}`;

export const rank = (p: MlflowPermissionLevel): number => MLFLOW_PERMISSION_LEVELS.indexOf(p);
export const atLeast = (have: MlflowPermissionLevel, need: MlflowPermissionLevel): boolean => rank(have) >= rank(need);
const max = (a: MlflowPermissionLevel, b: MlflowPermissionLevel) => (rank(a) >= rank(b) ? a : b);

/**
 * Experiment permissions READ < EDIT < MANAGE. What a caller has on an experiment is the higher of
 * their groups' and roles' default (MLFLOW_GROUP_PERMISSIONS, on every experiment) and their own
 * grant on that experiment (StateStore); with neither it is NO_PERMISSIONS — fail closed. Grants
 * only add: nobody can be locked out of what their groups give, and the creator of an experiment
 * gets MANAGE on it. Grants are by username (the token's preferred_username).
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

  async effective(principal: Principal, experimentId: string): Promise<EffectivePermission> {
    const groupDefault = this.groupDefault(principal);
    const grant = principal.username ? (await this.grant(experimentId, principal.username))?.permission : undefined;
    return { permission: grant ? max(grant, groupDefault) : groupDefault, grant, groupDefault };
  }

  async can(principal: Principal, experimentId: string, need: MlflowPermissionLevel): Promise<boolean> {
    if (atLeast(this.groupDefault(principal), need)) return true;
    return atLeast((await this.effective(principal, experimentId)).permission, need);
  }

  /** The subset of `experimentIds` the caller may read (order kept). */
  async readable(principal: Principal, experimentIds: string[]): Promise<Set<string>> {
    if (atLeast(this.groupDefault(principal), 'READ')) return new Set(experimentIds);
    const unique = [...new Set(experimentIds)];
    const allowed = await Promise.all(unique.map((id) => this.can(principal, id, 'READ')));
    return new Set(unique.filter((_, i) => allowed[i]));
  }

  async grant(experimentId: string, username: string): Promise<ExperimentGrant | undefined> {
    return this.store.getJson<ExperimentGrant>(grantKey(experimentId, username));
  }

  async grants(experimentId: string): Promise<ExperimentGrant[]> {
    const names = (await this.store.sMembers(granteesKey(experimentId))).sort();
    const found = await Promise.all(names.map((n) => this.grant(experimentId, n)));
    return found.filter((g): g is ExperimentGrant => g !== undefined);
  }

  async setGrant(experimentId: string, username: string, permission: MlflowPermissionLevel, grantedBy: string): Promise<ExperimentGrant> {
    const grant: ExperimentGrant = { username, permission, grantedBy, grantedAt: new Date().toISOString() };
    await this.store.setJson(grantKey(experimentId, username), grant);
    await this.store.sAdd(granteesKey(experimentId), username);
    return grant;
  }

  /** Removes a grant; false when there was none. */
  async removeGrant(experimentId: string, username: string): Promise<boolean> {
    const existed = (await this.grant(experimentId, username)) !== undefined;
    await this.store.del(grantKey(experimentId, username));
    await this.store.sRem(granteesKey(experimentId), username);
    return existed;
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

  /** Remembers the experiment of a logged model the BFF just saw created, as MLflow's answer names it. */
  async rememberModel(modelId: string, experimentId: string): Promise<void> {
    await this.store.setJson(modelKey(modelId), experimentId, RUN_EXPERIMENT_TTL_MS);
  }

  /** Remembers the experiment of a run the BFF just saw created, as MLflow's answer names it (never as the request did). */
  async rememberRun(runId: string, experimentId: string): Promise<void> {
    await this.store.setJson(runKey(runId), experimentId, RUN_EXPERIMENT_TTL_MS);
  }
}
