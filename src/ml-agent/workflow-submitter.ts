import { identityClaim, type Principal } from '../auth/principal';
import { problem } from '../common/problem';

const EMAIL = /^[^@\s]+@[^@\s]+$/;

/** The email a principal submits workflows as: the `email` claim of the verified token, or undefined. */
export function submitterEmail(principal: Principal): string | undefined {
  const email = identityClaim(principal, 'email');
  return email !== undefined && EMAIL.test(email) ? email : undefined;
}

/**
 * The client id of a service account (a client-credentials token): Keycloak marks those tokens with
 * a `client_id` claim (`clientId` before Keycloak 24) naming the client the token was issued to,
 * which is also its `azp`; user tokens carry neither. Undefined for any other token.
 */
export function serviceAccountClientId(principal: Principal): string | undefined {
  const azp = identityClaim(principal, 'azp');
  if (azp === undefined) return undefined;
  const marked = identityClaim(principal, 'client_id') ?? identityClaim(principal, 'clientId');
  return marked === azp ? azp : undefined;
}

/**
 * Who ML-Agent is told submitted a workflow, taken only from the verified token: a user's email,
 * or a service account's client id. Never anything the client wrote in the request.
 */
export type WorkflowSubmitter = { email: string } | { submittedBy: { type: 'service_account'; clientId: string } };

export function workflowSubmitter(principal: Principal): WorkflowSubmitter {
  const email = submitterEmail(principal);
  if (email) return { email };
  const clientId = serviceAccountClientId(principal);
  if (clientId) return { submittedBy: { type: 'service_account', clientId } };
  throw problem.forbidden(
    'claim_missing',
    principal.claims.email === undefined
      ? "the token has no 'email' claim to submit a workflow as (and is not a service account's)"
      : "the token's 'email' claim is not a usable email address to submit a workflow as",
  );
}
