import { ProblemException } from '../common/problem';

/**
 * MLflow's error codes (its databricks.proto ErrorCode) for the proxy's refusals, by status. MLflow's
 * clients read `error_code` and `message` from an error body (the Python client raises an
 * MlflowException with that code; without one it reports INTERNAL_ERROR), so each refusal carries
 * them beside the problem+json fields.
 */
const ERROR_CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'INVALID_PARAMETER_VALUE',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'RESOURCE_DOES_NOT_EXIST',
  405: 'ENDPOINT_NOT_FOUND',
  409: 'RESOURCE_ALREADY_EXISTS',
  413: 'INVALID_PARAMETER_VALUE',
  429: 'REQUEST_LIMIT_EXCEEDED',
  502: 'TEMPORARILY_UNAVAILABLE',
  503: 'TEMPORARILY_UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** The refusal with MLflow's `error_code` and `message` added (other errors unchanged). */
export function asMlflowError(err: unknown): unknown {
  if (!(err instanceof ProblemException)) return err;
  const status = err.getStatus();
  const code = ERROR_CODE_BY_STATUS[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST');
  return err.extend({ error_code: code, message: err.detail ?? err.reason });
}
