import { Injectable } from '@nestjs/common';
import { problem } from '../common/problem';
import type { MlflowPermissionLevel } from '../config/app-config';
import type { RestCall, RestDecision } from './mlflow-call';
import { MlflowDenials } from './mlflow-denials';
import { EXPERIMENT_ID, MLFLOW_USER_TAG, needOf, type RestRule } from './mlflow-endpoints';
import { MlflowPermissionService } from './mlflow-permission.service';
import { pagedSearch } from './mlflow-search';
import { MlflowClient } from './mlflow.client';
import { parseStrictJson } from './strict-json';

type DatasetRule = Extract<RestRule, { op: 'dataset' | 'create-dataset' }>;

/** MLflow makes `d-` and 32 hex digits. */
export const DATASET_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Dataset lookups a search makes at once (one per dataset of MLflow's page). */
const LOOKUPS_AT_ONCE = 8;

/**
 * MLflow 3's evaluation datasets (mlflow.genai.datasets), decided as MLflow 3.17.2's auth app and
 * mlflow-oidc-auth decide them: a dataset has no grants of its own and takes the level of the
 * experiments it is linked to — the caller needs the row's level on every one (MLflow is asked
 * which, on each call: links change). A dataset linked to no experiment (or unknown to MLflow) is
 * for the BFF's admins only (MANAGE by group, what MLflow's auth app calls admin). Creating needs EDIT
 * on every experiment named (one at least); linking or unlinking, EDIT on the dataset and on every
 * experiment named. A search lists a dataset only when the caller could read it by id.
 * The tags and records MLflow takes as JSON text are read and written again, with `mlflow.user`
 * (MLflow's created_by and last_updated_by) the caller.
 */
@Injectable()
export class MlflowDatasetDecider {
  constructor(
    private readonly permissions: MlflowPermissionService,
    private readonly denials: MlflowDenials,
    private readonly client: MlflowClient,
  ) {}

  async decide(call: RestCall, rule: DatasetRule): Promise<RestDecision> {
    const { p } = call;
    if (rule.op === 'create-dataset') {
      if (call.text('name') === undefined) throw problem.badRequest('name is required');
      const ids = this.experimentIds(call);
      if (ids.length === 0 && !this.admin(call)) {
        throw this.denials.denied(call.principal, call.target, 'permission', 'experiment_ids must name the experiments the dataset belongs to');
      }
      await this.requireEach(call, ids, 'EDIT');
      p.tags = JSON.stringify(this.withCaller(call, this.tagsOf(p.tags, 'tags'), true));
      return call.send();
    }

    const datasetId = call.endpoint.params?.dataset_id ?? '';
    if (!DATASET_ID.test(datasetId)) throw problem.badRequest('the dataset id is malformed');
    // Where MLflow reads dataset_id from the body too, it is the path's.
    if (p.dataset_id !== undefined && p.dataset_id !== datasetId) throw problem.badRequest('dataset_id must be the dataset of the path');
    const fields = call.endpoint.methodFields?.[call.method] ?? call.endpoint.fields;
    if (!call.inQuery && 'dataset_id' in fields) p.dataset_id = datasetId;
    const need = needOf(rule.need, call.method);
    await this.requireDataset(call, datasetId, need);
    if (rule.experiments) {
      const ids = this.experimentIds(call);
      if (ids.length === 0) throw problem.badRequest('experiment_ids is required');
      await this.requireEach(call, ids, 'EDIT');
    }
    if (p.tags !== undefined) p.tags = JSON.stringify(this.withCaller(call, this.tagsOf(p.tags, 'tags'), false));
    if (p.records !== undefined) p.records = JSON.stringify(this.records(call, p.records));
    if (call.endpoint.params?.key === MLFLOW_USER_TAG && call.method === 'DELETE') {
      throw this.denials.denied(call.principal, call.target, 'identity_tag', `${MLFLOW_USER_TAG} is set by the BFF and cannot be deleted`);
    }
    return call.send();
  }

  /**
   * MLflow's evaluation dataset search over the readable experiments of those requested; a dataset is
   * listed when every experiment it is linked to is readable (MLflow's items do not name them: each is
   * looked up), pages refilled.
   */
  async search(call: RestCall): Promise<RestDecision> {
    const requested = this.experimentIds(call);
    const readable = await this.permissions.readable(call.principal, requested);
    const allowed = [...new Set(requested.filter((id) => readable.has(id)))];
    if (allowed.length === 0) return { answer: {} };
    call.p.experiment_ids = allowed;
    return pagedSearch(this.client, call, 'datasets', async (items) => {
      const ids = items.map((d) => (d as { dataset_id?: unknown }).dataset_id);
      const shown: boolean[] = new Array<boolean>(ids.length).fill(false);
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < ids.length; i = next++) {
          const id = ids[i];
          if (typeof id === 'string' && DATASET_ID.test(id)) shown[i] = await this.may(call, await this.client.experimentsOfDataset(id), 'READ');
        }
      };
      await Promise.all(Array.from({ length: Math.min(LOOKUPS_AT_ONCE, ids.length) }, worker));
      return shown;
    });
  }

  private async requireDataset(call: RestCall, datasetId: string, need: MlflowPermissionLevel): Promise<void> {
    if (!(await this.may(call, await this.client.experimentsOfDataset(datasetId), need))) {
      throw this.denials.denied(call.principal, call.target, 'permission', `${need} on every experiment of dataset ${datasetId} is needed`);
    }
  }

  /** `need` on every experiment of a dataset; one linked to none is the admins'. */
  private async may(call: RestCall, experiments: string[], need: MlflowPermissionLevel): Promise<boolean> {
    if (experiments.length === 0) return this.admin(call);
    for (const id of new Set(experiments)) if (!(await this.permissions.can(call.principal, id, need))) return false;
    return true;
  }

  private admin(call: RestCall): boolean {
    return this.permissions.groupDefault(call.principal) === 'MANAGE';
  }

  private experimentIds(call: RestCall): string[] {
    const ids = (call.p.experiment_ids ?? []) as string[];
    if (ids.some((id) => !EXPERIMENT_ID.test(id))) throw problem.badRequest('experiment_ids must be a list of numeric experiment ids');
    return ids;
  }

  private async requireEach(call: RestCall, experimentIds: string[], need: MlflowPermissionLevel): Promise<void> {
    for (const id of new Set(experimentIds)) {
      if (!(await this.permissions.can(call.principal, id, need))) {
        throw this.denials.denied(call.principal, call.target, 'permission', `${need} on experiment ${id} is needed`);
      }
    }
  }

  /** A JSON text MLflow reads as a map of tags: an object of strings. */
  private tagsOf(value: unknown, where: string): Record<string, string> {
    const tags = typeof value === 'string' ? this.json(value, where) : (value ?? {});
    if (!tags || typeof tags !== 'object' || Array.isArray(tags) || Object.values(tags).some((v) => typeof v !== 'string')) {
      throw problem.badRequest(`${where} must be a JSON object of strings`);
    }
    return tags as Record<string, string>;
  }

  /** The records of an upsert (a JSON list of objects), each with the caller as `mlflow.user`. */
  private records(call: RestCall, value: unknown): unknown[] {
    const records = this.json(value as string, 'records');
    if (!Array.isArray(records) || records.some((r) => !r || typeof r !== 'object' || Array.isArray(r))) {
      throw problem.badRequest('records must be a JSON list of objects');
    }
    return (records as Array<Record<string, unknown>>).map((r, i) => ({ ...r, tags: this.withCaller(call, this.tagsOf(r.tags, `records[${i}].tags`), true) }));
  }

  /** Tags with the caller as `mlflow.user` (a client-sent value replaced; added when `add`). */
  private withCaller(call: RestCall, tags: Record<string, string>, add: boolean): Record<string, string> {
    const given = tags[MLFLOW_USER_TAG];
    if (given !== undefined && given !== call.username) this.denials.identityReplaced(call.principal, call.target);
    return add || given !== undefined ? { ...tags, [MLFLOW_USER_TAG]: call.username } : tags;
  }

  private json(text: string, where: string): unknown {
    try {
      return parseStrictJson(text);
    } catch {
      throw problem.badRequest(`${where} must be JSON text`);
    }
  }
}
