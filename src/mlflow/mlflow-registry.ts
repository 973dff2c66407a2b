import { Injectable, Logger } from '@nestjs/common';
import { normalisePath } from '../config/request-path';
import { problem } from '../common/problem';
import type { MlflowPermissionLevel } from '../config/app-config';
import type { RestCall, RestDecision } from './mlflow-call';
import { MlflowDenials } from './mlflow-denials';
import { EXPERIMENT_ID, MODEL_ID, needOf, REGISTERED_MODEL_NAME as MODEL_NAME, RUN_ID, type RestRule } from './mlflow-endpoints';
import { MlflowPermissionService } from './mlflow-permission.service';
import { pagedSearch } from './mlflow-search';
import { MlflowClient } from './mlflow.client';

type RegistryRule = Extract<
  RestRule,
  { op: 'registered-model' | 'create-registered-model' | 'create-model-version' | 'search-registered-models' | 'search-model-versions' }
>;

/** What a model version's `source` names, which the caller must be able to read. */
type Source = { experiment: string } | { run: string } | { loggedModel: string } | { registeredModel: string };

/**
 * The model registry's decisions (MLflow keeps prompts as registered models, so theirs too):
 * registered-model permissions READ / EDIT / MANAGE by name, as MLflow's own auth app assigns them;
 * the creator of a registered model gets MANAGE; a model version is made only from what the caller
 * may read (its run, its logged model, the artifacts its `source` points at — never a path of the
 * MLflow server's own file system); searches filtered to readable models and refilled.
 */
@Injectable()
export class MlflowRegistryDecider {
  private readonly log = new Logger('MlflowProxy');

  constructor(
    private readonly permissions: MlflowPermissionService,
    private readonly denials: MlflowDenials,
    private readonly client: MlflowClient,
  ) {}

  async decide(call: RestCall, rule: RegistryRule): Promise<RestDecision> {
    const { principal, username } = call;
    switch (rule.op) {
      case 'registered-model': {
        const name = this.nameOf(call);
        await this.require(call, name, needOf(rule.need, call.method));
        if (rule.after === 'delete') {
          return call.send({ inspect: async () => void (await this.permissions.forgetRegisteredModel(name)) });
        }
        if (rule.after === 'rename') {
          const renamed = nameOf(call.text('new_name'), 'new_name');
          return call.send({
            inspect: async () => {
              await this.permissions.registeredModelRenamed(name, renamed);
              this.log.log({ event: 'mlflow.registered_model_renamed', from: name, to: renamed, username });
              return undefined;
            },
          });
        }
        return call.send();
      }

      case 'create-registered-model': {
        const name = this.nameOf(call);
        return call.send({
          inspect: async (answer) => {
            // MLflow answers 200 only when it created the model (an existing name is RESOURCE_ALREADY_EXISTS).
            const created = (answer.registered_model as { name?: unknown } | undefined)?.name;
            if (created === name) {
              await this.permissions.registeredModelCreated(name, username);
              this.log.log({ event: 'mlflow.registered_model_created', name, username });
            }
            return undefined;
          },
        });
      }

      case 'create-model-version': {
        const name = this.nameOf(call);
        await this.require(call, name, 'EDIT');
        const runId = call.text('run_id');
        const modelId = call.text('model_id');
        const source = call.text('source');
        if (source === undefined) throw problem.badRequest('source is required');
        const reads: Source[] = versionSources(source, call.p.tags);
        if (runId !== undefined) reads.push({ run: runId });
        if (modelId !== undefined) reads.push({ loggedModel: modelId });
        for (const what of reads) await this.requireRead(call, what);
        return call.send();
      }

      case 'search-registered-models':
        return pagedSearch(this.client, call, 'registered_models', (items) => this.readableNames(principal, items));

      case 'search-model-versions':
        return pagedSearch(this.client, call, 'model_versions', (items) => this.readableNames(principal, items));
    }
  }

  private nameOf(call: RestCall): string {
    return nameOf(call.text('name'), 'name');
  }

  private async readableNames(principal: RestCall['principal'], items: unknown[]): Promise<boolean[]> {
    const names = (items as Array<{ name?: unknown }>).map((m) => String(m.name));
    const readable = await this.permissions.readable(principal, names, 'registered-model');
    return names.map((n) => readable.has(n));
  }

  private async require(call: RestCall, name: string, need: MlflowPermissionLevel): Promise<void> {
    if (!(await this.permissions.can(call.principal, name, need, 'registered-model'))) {
      throw this.denials.denied(call.principal, call.target, 'permission', `${need} on registered model ${name} is needed`);
    }
  }

  /** READ on what a model version is made from. */
  private async requireRead(call: RestCall, what: Source): Promise<void> {
    if ('registeredModel' in what) return this.require(call, what.registeredModel, 'READ');
    let experiment: string | undefined;
    let noun: string;
    if ('experiment' in what) {
      experiment = what.experiment;
      noun = `experiment ${experiment}`;
    } else if ('run' in what) {
      if (!RUN_ID.test(what.run)) throw problem.badRequest('run_id is malformed');
      experiment = await this.permissions.experimentOfRun(what.run);
      noun = `run ${what.run}`;
    } else {
      if (!MODEL_ID.test(what.loggedModel)) throw problem.badRequest('the logged model id is malformed');
      experiment = await this.permissions.experimentOfModel(what.loggedModel);
      noun = `logged model ${what.loggedModel}`;
    }
    if (experiment === undefined) throw problem.notFound(`no ${noun}`);
    if (!(await this.permissions.can(call.principal, experiment, 'READ'))) {
      throw this.denials.denied(call.principal, call.target, 'permission', `READ on the experiment of ${noun} is needed to register it`);
    }
  }
}

function nameOf(value: string | undefined, field: string): string {
  if (value === undefined) throw problem.badRequest(`${field} is required`);
  if (!MODEL_NAME.test(value)) throw problem.badRequest(`${field} must be a registered model name (no / or :)`);
  return value;
}

/** MLflow's placeholder sources of a prompt version (mlflow/prompt/constants.py): its client's and its store's. */
const PROMPT_SOURCES = new Set(['dummy-source', 'prompt-template']);

/**
 * What a new version's source makes the caller read. A prompt version (the request's tag
 * `mlflow.prompt.is_prompt` is "true", read as MLflow reads it: the last value of the key wins)
 * has MLflow's placeholder as its source and nothing to read there; MLflow refuses any other
 * source for a prompt and takes no lineage from it. Any other version: `sourceOf`.
 */
export function versionSources(source: string, tags: unknown): Source[] {
  const byKey = new Map(((Array.isArray(tags) ? tags : []) as Array<{ key?: unknown; value?: unknown }>).map((t) => [t.key, t.value]));
  const isPrompt = String(byKey.get('mlflow.prompt.is_prompt') ?? 'false').toLowerCase() === 'true';
  if (!isPrompt) return [sourceOf(source)];
  if (!PROMPT_SOURCES.has(source)) throw problem.badRequest(`a prompt version's source must be MLflow's placeholder (${[...PROMPT_SOURCES].join(' or ')})`);
  return [];
}

/**
 * What a model version's source points at: `models:/<logged model id>`, `models:/<name>/<version>`
 * or `models:/<name>@<alias>` (another registered model), `runs:/<run id>/…`, or the proxied
 * artifact store `mlflow-artifacts:/<experiment id>/…`. Anything else (a local path, file:, a
 * bucket) is refused: MLflow serves a version's files from its source.
 */
export function sourceOf(source: string): Source {
  const m = /^(models|runs|mlflow-artifacts):\/{1,3}(.*)$/.exec(source);
  if (m) {
    const normalised = normalisePath(`/${m[2]}`);
    const first = normalised?.slice(1).split('/')[0] ?? '';
    const segments = normalised?.slice(1).split('/') ?? [];
    if (m[1] === 'runs' && RUN_ID.test(first)) return { run: first };
    if (m[1] === 'mlflow-artifacts' && EXPERIMENT_ID.test(first)) return { experiment: first };
    if (m[1] === 'models' && first !== '') {
      const at = first.indexOf('@');
      if (at > 0 && segments.length === 1) return { registeredModel: first.slice(0, at) };
      if (segments.length === 2 && /^[0-9]+$/.test(segments[1]) && MODEL_NAME.test(first)) return { registeredModel: first };
      if (segments.length === 1 && MODEL_ID.test(first)) return { loggedModel: first };
    }
  }
  throw problem.badRequest('source must be models:/…, runs:/<run id>/… or mlflow-artifacts:/<experiment id>/… (what the caller may read)');
}
