import { randomBytes } from 'node:crypto';
import type { Sandbox } from '../../sandbox/index';
import { SANDBOX_CLIENT_ID } from '../../sandbox/index';
import { mlflowVenv } from '../../scripts/mlflow-server';
import { freePort, startBffProcess, type BffProcess } from '../lib';
import {
  expected,
  isRight,
  judge,
  LEVELS,
  SCENARIOS,
  traceInfo,
  newTraceId,
  type Answer,
  type Ids,
  type Level,
  type Peer,
  type Req,
  type Verdict,
} from './scenarios';
import { OIDC_AUTH_VENV, startMlflow, type MlflowServer } from './servers';

/** The users of the comparison: one per level, the owner of everything, each with a token both peers accept. */
export const OWNER = 'peer-owner';
export const userOf = (level: Level) => `peer-${level.toLowerCase()}`;

/**
 * A token of the sandbox issuer for `username`, as Keycloak would issue it to the platform's frontend:
 * audience platform-bff, the username in preferred_username, and the group `mlflow`
 * (mlflow-oidc-auth admits members of its OIDC_GROUP_NAME only; the BFF does not read groups).
 */
export function tokenFor(sandbox: Sandbox, username: string): Promise<string> {
  return sandbox.issuer.issueToken({
    user: 'viewer',
    claims: { preferred_username: username, sub: `sub-${username}`, email: `${username}@example.com`, name: username, groups: ['mlflow'] },
    expiresInS: 3600,
  });
}

async function send(base: string, token: string | undefined, req: Req): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (req.raw !== undefined) {
    headers['content-type'] = 'text/plain';
    body = req.raw;
  } else if (req.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.body);
  }
  const res = await fetch(`${base}${req.path}`, { method: req.method, headers, body, redirect: 'manual' });
  return { status: res.status, text: await res.text() };
}

export interface RunningPeer extends Peer {
  /** Where MLflow's paths start (the BFF's /mlflow, mlflow-oidc-auth's root). */
  base: string;
  /** The MLflow server behind it (the BFF's, without auth, for the "MLflow alone" reference). */
  mlflow: MlflowServer;
  pid?: number;
  stop(): Promise<void>;
}

/** The built BFF (dist/main.js) in front of its own real MLflow, as docker/compose.yaml deploys them. */
export async function startBffPeer(sandbox: Sandbox): Promise<RunningPeer> {
  const mlflow = await startMlflow(mlflowVenv());
  let bff: BffProcess;
  try {
    bff = await startBffProcess({ ...sandbox.env, MLFLOW_URL: mlflow.url });
  } catch (err) {
    await mlflow.stop();
    throw err;
  }
  const base = `${bff.url}/mlflow`;
  const grantPath: Record<string, (id: string, u: string) => string> = {
    experiment: (id, u) => `/mlflow-permissions/experiments/${encodeURIComponent(id)}/users/${encodeURIComponent(u)}`,
    'registered-model': (id, u) => `/mlflow-permissions/registered-models/${encodeURIComponent(id)}/users/${encodeURIComponent(u)}`,
    prompt: (id, u) => `/mlflow-permissions/registered-models/${encodeURIComponent(id)}/users/${encodeURIComponent(u)}`,
  };
  return {
    name: 'BFF',
    base,
    mlflow,
    pid: bff.child.pid,
    call: (token, req) => send(base, token, req),
    grant: (owner, kind, id, username, level) => send(bff.url, owner, { method: 'PUT', path: grantPath[kind](id, username), body: { permission: level } }),
    stop: async () => {
      await bff.stop();
      await mlflow.stop();
    },
  };
}

/**
 * mlflow-oidc-auth (`mlflow server --app-name oidc-auth`) against the sandbox issuer: bearer tokens of
 * audience platform-bff, users provisioned on their first bearer request when in the group `mlflow`,
 * the username from preferred_username, everything else its defaults (NO_PERMISSIONS by default).
 */
export async function startOidcAuthPeer(sandbox: Sandbox): Promise<RunningPeer> {
  const port = await freePort();
  const mlflow = await startMlflow(OIDC_AUTH_VENV(), {
    app: 'oidc-auth',
    port,
    env: {
      OIDC_DISCOVERY_URL: `${sandbox.issuer.issuer}/.well-known/openid-configuration`,
      OIDC_ISSUER: sandbox.issuer.issuer,
      OIDC_AUDIENCE: SANDBOX_CLIENT_ID,
      OIDC_CLIENT_ID: sandbox.env.BFF_LOGIN_CLIENT_ID,
      OIDC_CLIENT_SECRET: sandbox.env.BFF_LOGIN_CLIENT_SECRET,
      OIDC_REDIRECT_URI: `http://127.0.0.1:${port}/callback`,
      OIDC_USERNAME_FIELD: 'preferred_username',
      OIDC_PROVISION_ON_BEARER_AUTH: 'true',
      OIDC_GROUP_NAME: 'mlflow',
      OIDC_USERS_DB_URI: 'sqlite:///auth.db',
      SECRET_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'WARNING',
    },
  });
  const base = mlflow.url;
  const grantPath: Record<string, (id: string, u: string) => string> = {
    experiment: (id, u) => `/api/2.0/mlflow/permissions/users/${encodeURIComponent(u)}/experiments/${encodeURIComponent(id)}`,
    'registered-model': (id, u) => `/api/2.0/mlflow/permissions/users/${encodeURIComponent(u)}/registered-models/${encodeURIComponent(id)}`,
    prompt: (id, u) => `/api/2.0/mlflow/permissions/users/${encodeURIComponent(u)}/prompts/${encodeURIComponent(id)}`,
  };
  return {
    name: 'mlflow-oidc-auth',
    base,
    mlflow,
    pid: mlflow.child.pid,
    call: (token, req) => send(base, token, req),
    grant: (owner, kind, id, username, level) => send(base, owner, { method: 'POST', path: grantPath[kind](id, username), body: { permission: level } }),
    stop: () => mlflow.stop(),
  };
}

const jsonOf = (a: Answer): Record<string, unknown> => {
  try {
    return JSON.parse(a.text) as Record<string, unknown>;
  } catch {
    return {};
  }
};

export interface Setup {
  ids: Ids;
  tokens: Map<Level, string>;
  owner: string;
  /** Setup calls that did not succeed (the peer refused to make or grant something), for the report. */
  problems: string[];
}

/** The owner makes, through the peer, everything the rows act on, and grants each level's user their level. */
export async function setUp(peer: RunningPeer, sandbox: Sandbox): Promise<Setup> {
  const problems: string[] = [];
  const owner = await tokenFor(sandbox, OWNER);
  const tokens = new Map<Level, string>();
  for (const level of LEVELS) tokens.set(level, await tokenFor(sandbox, userOf(level)));
  // mlflow-oidc-auth provisions a user on their first bearer request; grants need the user to exist.
  for (const token of [owner, ...tokens.values()]) await peer.call(token, { method: 'GET', path: '/api/2.0/mlflow/experiments/search?max_results=1' });
  const as = async (what: string, req: Req): Promise<Record<string, unknown>> => {
    const a = await peer.call(owner, req);
    if (a.status !== 200) problems.push(`${what}: ${a.status} ${a.text.slice(0, 160)}`);
    return jsonOf(a);
  };
  const experimentName = `peers-${randomBytes(4).toString('hex')}`;
  const experiment = (await as('create the experiment', { method: 'POST', path: '/api/2.0/mlflow/experiments/create', body: { name: experimentName } }))
    .experiment_id as string;
  const run = (
    (await as('create a run', { method: 'POST', path: '/api/2.0/mlflow/runs/create', body: { experiment_id: experiment } })).run as { info: { run_id: string } }
  )?.info.run_id;
  await as('log a metric', {
    method: 'POST',
    path: '/api/2.0/mlflow/runs/log-metric',
    body: { run_id: run, key: 'loss', value: 1, timestamp: Date.now(), step: 0 },
  });
  await as('upload an artifact', { method: 'PUT', path: `/api/2.0/mlflow-artifacts/artifacts/${experiment}/${run}/artifacts/notes.txt`, raw: 'hello' });
  const model = (
    (
      await as('create a logged model', {
        method: 'POST',
        path: '/api/2.0/mlflow/logged-models',
        body: { experiment_id: experiment, name: 'model', source_run_id: run },
      })
    ).model as { info: { model_id: string } } | undefined
  )?.info.model_id as string;
  const trace = newTraceId();
  await as('start a trace', { method: 'POST', path: '/api/3.0/mlflow/traces', body: traceInfo(experiment, trace) });
  const registered = `registered-${experimentName}`;
  await as('create a registered model', { method: 'POST', path: '/api/2.0/mlflow/registered-models/create', body: { name: registered } });
  await as('create its version 1', {
    method: 'POST',
    path: '/api/2.0/mlflow/model-versions/create',
    body: { name: registered, source: `models:/${model}`, model_id: model },
  });
  const prompt = `prompt-${experimentName}`;
  await as('create a prompt', {
    method: 'POST',
    path: '/api/2.0/mlflow/registered-models/create',
    body: { name: prompt, tags: [{ key: 'mlflow.prompt.is_prompt', value: 'true' }] },
  });
  for (const level of LEVELS) {
    if (level === 'NONE') continue;
    for (const [kind, id] of [
      ['experiment', experiment],
      ['registered-model', registered],
      ['prompt', prompt],
    ] as const) {
      const a = await peer.grant(owner, kind, id, userOf(level), level);
      if (a.status < 200 || a.status > 299) problems.push(`grant ${level} on the ${kind}: ${a.status} ${a.text.slice(0, 160)}`);
    }
  }
  return { ids: { experiment, experimentName, run, model, trace, registered, prompt }, tokens, owner, problems };
}

export interface Cell {
  got: Verdict;
  want: Verdict;
}
export interface MatrixRow {
  family: string;
  call: string;
  need: string;
  /** By peer name, then by level (and 'no token'). */
  cells: Record<string, Record<string, Cell>>;
}

export const COLUMNS = [...LEVELS, 'no token'] as const;

/** Every row, for every level and without a token, through every peer. */
export async function runMatrix(peers: Array<{ peer: RunningPeer; setup: Setup }>): Promise<MatrixRow[]> {
  const rows: MatrixRow[] = [];
  for (const s of SCENARIOS) {
    const row: MatrixRow = { family: s.family, call: s.call, need: s.need, cells: {} };
    for (const { peer, setup } of peers) {
      const cells: Record<string, Cell> = {};
      for (const column of COLUMNS) {
        const level = column === 'no token' ? undefined : column;
        const tag = `${peer.name === 'BFF' ? 'bff' : 'oa'}-${column.replace(' ', '-').toLowerCase()}-${rows.length}`;
        let fresh: Record<string, string> = {};
        if (s.prepare) {
          fresh = await s.prepare(
            {
              owner: (req) => peer.call(setup.owner, req),
              grant: async (kind, id) => {
                if (level && level !== 'NONE') await peer.grant(setup.owner, kind, id, userOf(level), level);
              },
            },
            setup.ids,
            tag,
          );
        }
        const token = level ? setup.tokens.get(level) : undefined;
        const answer = await peer.call(token, s.request(setup.ids, tag, fresh));
        cells[column] = { got: judge(s, answer, setup.ids), want: expected(s.need, level) };
      }
      row.cells[peer.name] = cells;
    }
    rows.push(row);
  }
  return rows;
}

const MARK: Record<string, string> = { allowed: '✓', refused: '✗', listed: 'listed', hidden: 'hidden' };
const show = (c: Cell) => `${MARK[c.got] ?? c.got}${isRight(c.got, c.want) ? '' : ' ⚠'}`;

/** The matrix as a Markdown table: for each level, the BFF's answer then mlflow-oidc-auth's; ⚠ where the answer is not what MLflow's permission model says. */
export function matrixTable(rows: MatrixRow[], names: string[]): string {
  const head = ['family', 'call', 'needs', ...COLUMNS.flatMap((c) => names.map((n) => `${c === 'NONE' ? 'no grant' : c} ${n}`))];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const cells = COLUMNS.flatMap((c) => names.map((n) => show(r.cells[n][c])));
    lines.push(`| ${r.family} | ${r.call} | ${r.need} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Rows where a peer's answer differs from what MLflow's permission model says, by peer. */
export function deviations(rows: MatrixRow[], name: string): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const wrong = COLUMNS.filter((c) => !isRight(r.cells[name][c].got, r.cells[name][c].want));
    if (wrong.length)
      out.push(
        `${r.call} (${r.need}): ${wrong.map((c) => `${c === 'NONE' ? 'no grant' : c} ${r.cells[name][c].got}, should be ${r.cells[name][c].want}`).join('; ')}`,
      );
  }
  return out;
}
