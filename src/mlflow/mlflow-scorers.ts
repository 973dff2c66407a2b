import { Injectable, Logger } from '@nestjs/common';
import { problem } from '../common/problem';
import type { RestCall, RestDecision } from './mlflow-call';
import { MlflowDenials } from './mlflow-denials';
import { EXPERIMENT_ID } from './mlflow-endpoints';
import { atLeast, MlflowPermissionService } from './mlflow-permission.service';
import type { ScorerRule } from './mlflow-scorer-endpoints';
import { pagedSearch } from './mlflow-search';
import { MlflowClient } from './mlflow.client';

/** The grant key of a scorer: its experiment and its name (MLflow's auth app keys them the same way). */
const scorerKey = (experimentId: string, name: string) => `${experimentId}/${name}`;

/**
 * MLflow 3's scorers and the model registry's webhooks, as MLflow 3.17.2's auth app decides them.
 * Registering a scorer needs EDIT on its experiment, and makes the caller MANAGE of the scorer (as
 * MLflow's `set_can_manage_scorer_permission` does; every registration of a version, by whoever
 * registers it). What a caller has on a scorer is the higher of their level on its experiment and
 * that grant — MLflow's auth app keeps scorer permissions of their own and falls back to its default
 * permission; the BFF falls back to the experiment's level, fail closed. Reading needs READ,
 * deleting the scorer or a version of it MANAGE; deleting the whole scorer drops its grants.
 * Listing scorers of one experiment needs READ on it; of several, or of all, lists only the
 * readable experiments' scorers; online scoring configs (by scorer id) are answered only when each is
 * of a readable experiment. Webhooks are for admins only.
 */
@Injectable()
export class MlflowScorerDecider {
  private readonly log = new Logger('MlflowProxy');

  constructor(
    private readonly permissions: MlflowPermissionService,
    private readonly denials: MlflowDenials,
    private readonly client: MlflowClient,
  ) {}

  async decide(call: RestCall, rule: ScorerRule): Promise<RestDecision> {
    const { p, principal, target, username } = call;
    switch (rule.op) {
      case 'admin': {
        if (this.permissions.groupDefault(principal) !== 'MANAGE') {
          throw this.denials.denied(principal, target, 'permission', 'webhooks are for admins only (MANAGE on every experiment)');
        }
        // Where MLflow reads the webhook's id from the body too (an update, a test), it is the path's.
        const id = call.endpoint.params?.webhook_id;
        if (id !== undefined && p.webhook_id !== undefined && p.webhook_id !== id) throw problem.badRequest('webhook_id must be the webhook of the path');
        if (id !== undefined && !call.inQuery && 'webhook_id' in (call.endpoint.methodFields?.[call.method] ?? call.endpoint.fields)) p.webhook_id = id;
        return call.send();
      }

      case 'register-scorer': {
        const experimentId = experimentOf(call);
        const name = nameOf(call);
        await this.require(call, experimentId, 'EDIT');
        return call.send({
          inspect: async (answer) => {
            // The scorer as MLflow answered it.
            const registered = answer.experiment_id === experimentId && answer.name === name;
            if (registered) {
              await this.permissions.setGrant(scorerKey(experimentId, name), username, 'MANAGE', username, 'scorer');
              this.log.log({ event: 'mlflow.scorer_registered', experiment: experimentId, scorer: name, username });
            }
            return undefined;
          },
        });
      }

      case 'scorer': {
        const experimentId = experimentOf(call);
        const name = nameOf(call);
        const key = scorerKey(experimentId, name);
        const onExperiment = await this.permissions.can(principal, experimentId, rule.need);
        const asRegistrant = !onExperiment && atLeast((await this.permissions.effective(principal, key, 'scorer')).permission, rule.need);
        if (!onExperiment && !asRegistrant)
          throw this.denials.denied(principal, target, 'permission', `${rule.need} on scorer ${name} of experiment ${experimentId} is needed`);
        const whole = rule.after === 'delete' && p.version === undefined;
        return call.send(whole ? { inspect: async () => void (await this.permissions.forget(key, 'scorer')) } : {});
      }

      case 'scorer-configs':
        // As MLflow's auth app: the configs of the scorers named are looked up, and each must be of a readable experiment.
        return call.send({
          inspect: async (answer) => {
            const configs = Array.isArray(answer.configs) ? (answer.configs as Array<{ experiment_id?: unknown }>) : [];
            const ids = configs.map((c) => String(c.experiment_id));
            const readable = await this.permissions.readable(principal, ids);
            const hidden = ids.find((id) => !readable.has(id));
            if (hidden !== undefined) throw this.denials.denied(principal, target, 'permission', `READ on experiment ${hidden} is needed`);
            return undefined;
          },
        });

      case 'list-scorers': {
        const one = call.text('experiment_id');
        const several = p.experiment_ids as string[] | undefined;
        if (one !== undefined && several !== undefined) throw problem.badRequest('give experiment_id or experiment_ids, not both');
        if (one !== undefined) {
          await this.require(call, experimentIdOf(one), 'READ');
          return call.send();
        }
        if (several?.some((id) => !EXPERIMENT_ID.test(id))) throw problem.badRequest('experiment_ids must be a list of numeric experiment ids');
        if (several !== undefined) {
          const readable = await this.permissions.readable(principal, several);
          const allowed = several.filter((id) => readable.has(id));
          if (allowed.length === 0) return { answer: {} };
          p.experiment_ids = allowed;
        }
        // Every experiment's scorers (or the readable ones named): each listed only where its experiment is readable.
        return pagedSearch(this.client, call, 'scorers', async (items) => {
          const ids = (items as Array<{ experiment_id?: unknown }>).map((s) => String(s.experiment_id));
          const readable = await this.permissions.readable(principal, ids);
          return ids.map((id) => readable.has(id));
        });
      }
    }
  }

  private async require(call: RestCall, experimentId: string, need: 'READ' | 'EDIT'): Promise<void> {
    if (!(await this.permissions.can(call.principal, experimentId, need))) {
      throw this.denials.denied(call.principal, call.target, 'permission', `${need} on experiment ${experimentId} is needed`);
    }
  }
}

function experimentIdOf(id: string): string {
  if (!EXPERIMENT_ID.test(id)) throw problem.badRequest('experiment_id must be a numeric experiment id');
  return id;
}

function experimentOf(call: RestCall): string {
  const id = call.text('experiment_id');
  if (id === undefined) throw problem.badRequest('experiment_id is required');
  return experimentIdOf(id);
}

function nameOf(call: RestCall): string {
  const name = call.text('name');
  if (name === undefined) throw problem.badRequest('name is required');
  return name;
}
