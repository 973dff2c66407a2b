import { Injectable, Logger } from '@nestjs/common';
import type { Counter } from 'prom-client';
import type { Principal } from '../auth/principal';
import { MetricsService } from '../common/metrics.service';
import { problem, type ProblemException } from '../common/problem';
import type { Target } from './mlflow-target';

/** The proxy's refusals of a known caller: counted by reason, logged as decisions, answered 403. */
@Injectable()
export class MlflowDenials {
  private readonly log = new Logger('MlflowProxy');
  private readonly denials: Counter<'reason'>;

  constructor(metrics: MetricsService) {
    this.denials = metrics.counter('bff_mlflow_denials_total', 'MLflow requests refused by path rules or experiment permissions', ['reason']);
  }

  denied(principal: Principal, target: Target, reason: string, detail: string): ProblemException {
    this.denials.inc({ reason });
    this.log.warn({
      event: 'mlflow.decision',
      outcome: 'deny',
      reason,
      sub: principal.subject,
      username: principal.username,
      azp: principal.clientId,
      route: target.route,
    });
    return problem.forbidden('insufficient_role', detail);
  }

  /** A client-sent MLflow user (`mlflow.user`, a run's `user_id`) replaced by the token's: logged, never refused. */
  identityReplaced(principal: Principal, target: Target): void {
    this.log.warn(
      { event: 'mlflow.identity_replaced', sub: principal.subject, username: principal.username, route: target.route },
      'client-sent MLflow user replaced by the token user',
    );
  }
}
