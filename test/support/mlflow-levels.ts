/** MLflow permission levels of an experiment, as the BFF grants them. */
export type Level = 'NO_PERMISSIONS' | 'READ' | 'EDIT' | 'MANAGE';

const LEVELS: readonly Level[] = ['NO_PERMISSIONS', 'READ', 'EDIT', 'MANAGE'];

/**
 * An hour-long token of the sandbox issuer for `username`, a user without roles (MLflow grants decide what
 * it may do): real-MLflow cases on a loaded machine outlast Keycloak's 5 minutes.
 */
export function mlflowUserToken(
  issuer: { issueToken(o: { user: string; expiresInS: number; claims: Record<string, string> }): Promise<string> },
  username: string,
): Promise<string> {
  return issuer.issueToken({
    user: 'viewer',
    expiresInS: 3600,
    claims: { preferred_username: username, sub: `sub-${username}`, email: `${username}@example.com` },
  });
}

/**
 * One user per level on an experiment — `<prefix>-read` gets READ through the BFF's grant API from the
 * experiment's owner, and so on; `<prefix>-no_permissions` gets nothing — and each one's token.
 * `on` is an experiment id, or the grant API's resources (`experiments/1`, `registered-models/churn`),
 * each granted the same level.
 */
export async function usersAtEachLevel(
  bffUrl: string,
  owner: string,
  on: string | string[],
  prefix: string,
  tokenOf: (username: string) => Promise<string>,
): Promise<Map<Level, string>> {
  const resources = typeof on === 'string' ? [`experiments/${on}`] : on;
  const tokens = new Map<Level, string>();
  for (const level of LEVELS) {
    const username = `${prefix}-${level.toLowerCase()}`;
    tokens.set(level, await tokenOf(username));
    if (level === 'NO_PERMISSIONS') continue;
    for (const resource of resources) {
      const r = await fetch(`${bffUrl}/mlflow-permissions/${resource.split('/').map(encodeURIComponent).join('/')}/users/${username}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
        body: JSON.stringify({ permission: level }),
      });
      if (r.status !== 200) throw new Error(`granting ${level} on ${resource} to ${username}: ${r.status} ${await r.text()}`);
    }
  }
  return tokens;
}
