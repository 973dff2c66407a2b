import type { FastifyRequest } from 'fastify';
import { normalisePath } from '../config/request-path';
import { problem } from '../common/problem';

/** The proxy's mount point on the BFF. */
export const MLFLOW_MOUNT = '/mlflow';

/** What a request to /mlflow/** asks MLflow for. */
export interface Target {
  /** Normalised MLflow path (decoded), what every rule matches on. */
  path: string;
  /** The same path, percent-encoded, as sent to MLflow (a trailing slash kept). */
  upstreamPath: string;
  /** Raw query string, without `?`. */
  query: string;
  /** `METHOD /mlflow/...` for logs and decisions. */
  route: string;
}

/** The target of a request: its path normalised (no prefix or dot-segment tricks), relative to MLFLOW_URL. */
export function targetOf(req: FastifyRequest, method: string): Target {
  const raw = req.raw.url ?? '/';
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const normalised = normalisePath(rawPath);
  if (!normalised) throw problem.badRequest('the request path is malformed');
  if (normalised !== MLFLOW_MOUNT && !normalised.startsWith(`${MLFLOW_MOUNT}/`)) throw problem.badRequest(`the request path leaves ${MLFLOW_MOUNT}/`);
  const path = normalised.slice(MLFLOW_MOUNT.length) || '/';
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  const upstreamPath = path !== '/' && rawPath.endsWith('/') ? `${encoded}/` : encoded;
  return { path, upstreamPath, query: q < 0 ? '' : raw.slice(q + 1), route: `${method} ${MLFLOW_MOUNT}${path}` };
}
