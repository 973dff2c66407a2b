import type { Principal } from '../auth/principal';
import type { MatchedEndpoint } from './mlflow-endpoints';
import type { Decided } from './mlflow-fields';
import type { Forward } from './mlflow-forwarder';
import type { Target } from './mlflow-target';

/** What the proxy does with a REST call: forward what it decided on, or answer itself. */
export type RestDecision = { forward: Forward } | { answer: Record<string, unknown> };

/** One REST call being decided: the caller, the row, and the request read into the row's fields. */
export interface RestCall {
  principal: Principal;
  /** The caller's preferred_username (MLflow permissions are per user). */
  username: string;
  target: Target;
  method: string;
  endpoint: MatchedEndpoint;
  /** The decided request (proto names): what MLflow gets, once the decision is made. */
  p: Decided;
  /** Whether MLflow reads the request from the query (else from a JSON body). */
  inQuery: boolean;
  /** The method MLflow gets (a HEAD goes as the GET it mirrors). */
  upstreamMethod: string;
  /** The decided request as MLflow gets it, with what the decision adds. */
  send(extra?: Partial<Forward>): { forward: Forward };
  /** A decided string field, undefined when absent or empty. */
  text(name: string): string | undefined;
}
