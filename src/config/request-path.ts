/*
 * Here, in the lowest layer, because the configuration is checked with it at boot (MLFLOW_PUBLIC_PATHS must be
 * normalised); the gateway route policies and the MLflow proxy match on the same normal form.
 */

/** Normalises a request path: percent-decoding, dot segments, repeated slashes, no query. Undefined when malformed. */
export function normalisePath(raw: string): string | undefined {
  // A path without its leading '/' normalises the same: segments are joined under one '/'.
  const path = raw.split('?')[0].split('#')[0];
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const out: string[] = [];
  for (const seg of decoded.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}
