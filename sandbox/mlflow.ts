/**
 * MLflow tracking-server emulator: the REST API, the UI and OTLP trace ingestion of an MLflow
 * server started without authentication (as it runs behind the BFF), as a real HTTP server on
 * 127.0.0.1, with MLflow's JSON shapes (proto field names, int64 as JSON numbers, empty fields
 * omitted) and its errors: `{"error_code": "...", "message": "..."}` with 400 / 404.
 *
 * Routes, each under /api/2.0/mlflow/ and (for the UI) /ajax-api/2.0/mlflow/:
 *   experiments/create (POST)  {name, artifact_location?, tags?} -> {experiment_id}
 *   experiments/get (GET ?experiment_id) / get-by-name (GET ?experiment_name) -> {experiment}
 *   experiments/search (GET or POST) {max_results?, filter?, page_token?, view_type?} -> {experiments, next_page_token?}
 *   experiments/update {experiment_id, new_name} | delete | restore {experiment_id} | set-experiment-tag -> {}
 *   runs/create {experiment_id, user_id?, run_name?, start_time?, tags?} -> {run}
 *   runs/get (GET ?run_id|run_uuid) -> {run};  runs/update {run_id, status?, end_time?, run_name?} -> {run_info}
 *   runs/search {experiment_ids, filter?, run_view_type?, max_results?, page_token?} -> {runs, next_page_token?}
 *   runs/log-metric | log-parameter | log-batch | set-tag | delete-tag | delete | restore -> {}
 *   experiments/delete-experiment-tag {experiment_id, key} -> {}
 *   runs/log-model {run_id, model_json} | log-inputs {run_id, datasets?, models?} -> {}
 *   metrics/get-history (GET ?run_id&metric_key) -> {metrics}
 *   metrics/get-history-bulk (GET ?run_id=…&run_id=…&metric_key, Flask args) -> {metrics} (each with run_id)
 *   metrics/get-history-bulk-interval (GET ?run_ids=…&metric_key&start_step?&end_step?) -> {metrics}
 *   artifacts/list (GET ?run_id&path?) -> {root_uri, files};  GET /get-artifact?path&run_uuid (Flask args) -> the bytes
 *   logged-models (POST) | logged-models/{id} (GET, PATCH finalize, DELETE) | …/tags (PATCH) | …/tags/{key} (DELETE)
 *   | …/params (POST) | logged-models/search (POST): MLflow 3's logged models (mlflow-logged-models.ts)
 * Under /api/3.0/mlflow/ (and /ajax-api/3.0/mlflow/): datasets/create | search | {id} (GET, DELETE) | {id}/tags (PATCH)
 *   | {id}/tags/{key} (DELETE) | {id}/records (GET, POST, DELETE) | {id}/experiment-ids | {id}/add-experiments
 *   | {id}/remove-experiments: MLflow 3's evaluation datasets (mlflow-datasets.ts)
 * Request messages are read as MLflow reads them (protobuf's JSON mapping): a field is spelled
 * `experiment_id` or `experimentId`, in JSON bodies (nested messages too) and GET parameters, and
 * the later key wins; repeated GET parameters fill repeated fields. The few Flask handlers that read
 * `request.args` (get-history-bulk, get-artifact) take names as spelled and the first value.
 * Artifacts (proxied artifact store, `mlflow-artifacts:/`): PUT / GET / DELETE
 * /api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path} (bodies streamed to
 * memory), GET /api/2.0/mlflow-artifacts/artifacts?path= -> {files}.
 * OTLP/HTTP: POST /v1/traces (MLflow >= 3.6) with `x-mlflow-experiment-id`; application/json
 * (OTLP/JSON) or application/x-protobuf (ExportTraceServiceRequest), recorded with its spans.
 * GraphQL: POST /graphql, the query fields MLflow's UI asks (mlflow-graphql.ts).
 * Probes: GET /health -> "OK", GET /version -> the version. UI: GET / (a small single-page app
 * with hash routes #/ and #/experiments/{id} that calls the ajax API with relative URLs, so it
 * works under any path prefix, e.g. /mlflow/ behind the BFF) and /static-files/static/js/main.js.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  invalid,
  likeToRegex,
  missing,
  MlflowError,
  notFound,
  num,
  paginate,
  protoMessage,
  queryMessage,
  readRaw,
  required,
  send,
  str,
  tagsOf,
  type MlflowTag,
  type Params,
} from './mlflow-messages';
import { evaluationDatasets } from './mlflow-datasets';
import { loggedModels, type LoggedModel } from './mlflow-logged-models';
import { graphqlAnswer } from './mlflow-graphql';
import { registry } from './mlflow-registry';
import { scorersAndWebhooks } from './mlflow-scorers';
import type { SandboxServer } from './types';

export { protoFieldName, protoMessage, queryMessage, type MlflowTag } from './mlflow-messages';

export const MLFLOW_EMULATOR_VERSION = '3.6.0';
const MAX_JSON_BODY = 10 * 1024 * 1024;
const MAX_LOG = 500;

export interface MlflowExperiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: 'active' | 'deleted';
  last_update_time: number;
  creation_time: number;
  tags?: MlflowTag[];
}
export interface MlflowMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}
export interface MlflowRunInfo {
  run_uuid: string;
  run_id: string;
  run_name: string;
  experiment_id: string;
  user_id: string;
  status: 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
  start_time: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: 'active' | 'deleted';
}
export interface MlflowRun {
  info: MlflowRunInfo;
  data: { metrics?: MlflowMetric[]; params?: MlflowTag[]; tags?: MlflowTag[] };
  inputs: Record<string, never>;
}

export interface RecordedMlflowRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** JSON bodies as text (artifact and trace bodies are not kept here). */
  body?: string;
}

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  name: string;
}
export interface ReceivedTraces {
  experimentId: string;
  contentType: 'json' | 'protobuf';
  spans: ReceivedSpan[];
  headers: http.IncomingHttpHeaders;
  bytes: number;
}

export interface MlflowEmulator extends SandboxServer {
  /** Every request that reached the server (the last MAX_LOG). */
  readonly requests: RecordedMlflowRequest[];
  /** Every accepted OTLP export. */
  readonly traces: ReceivedTraces[];
  experiment(id: string): MlflowExperiment | undefined;
  run(id: string): MlflowRun | undefined;
  /** Stored artifact bytes by artifact path (`{experiment_id}/{run_id}/artifacts/...`). */
  artifact(path: string): Buffer | undefined;
  loggedModel(id: string): LoggedModel | undefined;
}

/** OTLP protobuf: the span ids and names of an ExportTraceServiceRequest (fields 1 → 2 → 2 → {1, 2, 5}). */
function protobufSpans(buf: Buffer): ReceivedSpan[] {
  function* fields(b: Buffer): Generator<{ field: number; bytes?: Buffer }> {
    let i = 0;
    const varint = (): number => {
      let result = 0;
      let shift = 0;
      for (;;) {
        if (i >= b.length) throw new Error('truncated varint');
        const byte = b[i++];
        result += (byte & 0x7f) * 2 ** shift;
        if ((byte & 0x80) === 0) return result;
        shift += 7;
        if (shift > 63) throw new Error('varint too long');
      }
    };
    while (i < b.length) {
      const tag = varint();
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (wire === 0) varint();
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else if (wire === 2) {
        const len = varint();
        if (i + len > b.length) throw new Error('truncated field');
        yield { field, bytes: b.subarray(i, i + len) };
        i += len;
      } else throw new Error(`unsupported wire type ${wire}`);
      if (i > b.length) throw new Error('truncated field');
    }
  }
  const spans: ReceivedSpan[] = [];
  for (const rs of fields(buf)) {
    if (rs.field !== 1 || !rs.bytes) continue;
    for (const ss of fields(rs.bytes)) {
      if (ss.field !== 2 || !ss.bytes) continue;
      for (const sp of fields(ss.bytes)) {
        if (sp.field !== 2 || !sp.bytes) continue;
        const span: ReceivedSpan = { traceId: '', spanId: '', name: '' };
        for (const f of fields(sp.bytes)) {
          if (f.field === 1 && f.bytes) span.traceId = f.bytes.toString('hex');
          else if (f.field === 2 && f.bytes) span.spanId = f.bytes.toString('hex');
          else if (f.field === 5 && f.bytes) span.name = f.bytes.toString('utf8');
        }
        spans.push(span);
      }
    }
  }
  return spans;
}

/** OTLP/JSON: resourceSpans[].scopeSpans[].spans[] (ids hex-encoded, as the OTLP JSON mapping says). */
function jsonSpans(body: unknown): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  const resourceSpans = (body as { resourceSpans?: unknown })?.resourceSpans;
  if (!Array.isArray(resourceSpans)) throw new Error('resourceSpans must be a list');
  for (const rs of resourceSpans) {
    for (const ss of ((rs as { scopeSpans?: unknown[] }).scopeSpans ?? []) as Array<{ spans?: unknown[] }>) {
      for (const s of (ss.spans ?? []) as Array<{ traceId?: unknown; spanId?: unknown; name?: unknown }>) {
        spans.push({ traceId: String(s.traceId ?? ''), spanId: String(s.spanId ?? ''), name: String(s.name ?? '') });
      }
    }
  }
  return spans;
}

/** The filter subset the emulator understands: `[attribute.]name = | != | LIKE | ILIKE '...'`, joined by AND. */
function experimentFilter(filter: string | undefined): (e: MlflowExperiment) => boolean {
  if (!filter) return () => true;
  const clauses = filter.split(/\s+AND\s+/i).map((c) => {
    const m = /^\s*(?:attributes?\.)?name\s*(=|!=|LIKE|ILIKE)\s*'((?:[^']|'')*)'\s*$/i.exec(c);
    if (!m) throw invalid(`Invalid filter '${filter}'. Could not be parsed.`);
    const value = m[2].replace(/''/g, "'");
    const op = m[1].toUpperCase();
    if (op === '=') return (e: MlflowExperiment) => e.name === value;
    if (op === '!=') return (e: MlflowExperiment) => e.name !== value;
    const re = likeToRegex(value, op === 'ILIKE' ? 'i' : '');
    return (e: MlflowExperiment) => re.test(e.name);
  });
  return (e) => clauses.every((c) => c(e));
}

/** `tags.k = 'v'`, `params.k = 'v'`, `attributes.status = 'X'`, `metrics.k <op> n`, joined by AND. */
function runFilter(filter: string | undefined): (r: MlflowRun) => boolean {
  if (!filter) return () => true;
  const clauses = filter.split(/\s+AND\s+/i).map((c) => {
    const s = /^\s*(tags?|params?|attributes?)\.(`[^`]+`|[\w.]+)\s*(=|!=)\s*'((?:[^']|'')*)'\s*$/i.exec(c);
    if (s) {
      const kind = s[1].toLowerCase().replace(/s$/, '');
      const key = s[2].replace(/`/g, '');
      const value = s[4].replace(/''/g, "'");
      const eq = s[3] === '=';
      return (r: MlflowRun) => {
        let actual: string | undefined;
        if (kind === 'tag') actual = r.data.tags?.find((t) => t.key === key)?.value;
        else if (kind === 'param') actual = r.data.params?.find((t) => t.key === key)?.value;
        else actual = (r.info as unknown as Record<string, unknown>)[key === 'run_name' ? 'run_name' : key] as string | undefined;
        return eq ? actual === value : actual !== value;
      };
    }
    const m = /^\s*metrics?\.(`[^`]+`|[\w.]+)\s*(=|!=|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$/i.exec(c);
    if (m) {
      const key = m[1].replace(/`/g, '');
      const n = Number(m[3]);
      const op = m[2];
      return (r: MlflowRun) => {
        const v = r.data.metrics?.find((x) => x.key === key)?.value;
        if (v === undefined) return false;
        return op === '=' ? v === n : op === '!=' ? v !== n : op === '>' ? v > n : op === '<' ? v < n : op === '>=' ? v >= n : v <= n;
      };
    }
    throw invalid(`Invalid filter '${filter}'. Could not be parsed.`);
  });
  return (r) => clauses.every((c) => c(r));
}

function viewFilter(view: string | undefined): (stage: 'active' | 'deleted') => boolean {
  if (view === undefined || view === 'ACTIVE_ONLY' || view === '1') return (s) => s === 'active';
  if (view === 'DELETED_ONLY' || view === '2') return (s) => s === 'deleted';
  if (view === 'ALL' || view === '3') return () => true;
  throw invalid(`Invalid value ${view} for parameter 'view_type' supplied.`);
}

const UI_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MLflow</title>
<style>body{font-family:sans-serif;margin:0}header{background:#0194e2;color:#fff;padding:.6rem 1rem}main{padding:1rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}.error{color:#b00}</style></head>
<body><header><span id="mlflow-logo">mlflow</span> <span id="mlflow-version">${MLFLOW_EMULATOR_VERSION}</span></header>
<main id="root">Loading…</main>
<script src="static-files/static/js/main.js"></script>
</body></html>
`;

const UI_JS = `(function () {
  'use strict';
  var root = document.getElementById('root');
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function api(path, init) {
    return fetch('ajax-api/2.0/mlflow/' + path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) { var err = new Error(body.message || body.detail || ('HTTP ' + r.status)); err.status = r.status; throw err; }
        return body;
      });
    });
  }
  function post(path, body) {
    return api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }
  function fail(err) {
    root.replaceChildren(el('p', { class: 'error', id: 'error', 'data-status': String(err.status || '') }, [String(err.message)]));
  }
  function experimentsPage() {
    return api('experiments/search?max_results=1000').then(function (body) {
      var list = el('ul', { id: 'experiment-list' }, (body.experiments || []).map(function (e) {
        return el('li', {}, [el('a', { class: 'experiment-link', href: '#/experiments/' + encodeURIComponent(e.experiment_id), 'data-experiment-id': e.experiment_id }, [e.name])]);
      }));
      var name = el('input', { id: 'new-experiment-name', placeholder: 'Experiment name' });
      var create = el('button', { id: 'create-experiment', type: 'button' }, ['Create']);
      var status = el('span', { id: 'create-status' });
      create.addEventListener('click', function () {
        post('experiments/create', { name: name.value }).then(function (r) {
          status.textContent = 'created ' + r.experiment_id;
          status.setAttribute('data-experiment-id', r.experiment_id);
        }, function (err) { status.textContent = 'failed ' + (err.status || '') + ' ' + err.message; status.setAttribute('data-status', String(err.status || '')); });
      });
      root.replaceChildren(el('h1', {}, ['Experiments']), list, el('p', {}, [name, create, status]));
    });
  }
  function experimentPage(id) {
    return api('experiments/get?experiment_id=' + encodeURIComponent(id)).then(function (body) {
      return post('runs/search', { experiment_ids: [id], max_results: 100 }).then(function (found) {
        var rows = (found.runs || []).map(function (r) {
          var tags = (r.data && r.data.tags) || [];
          var user = (tags.filter(function (t) { return t.key === 'mlflow.user'; })[0] || {}).value || r.info.user_id || '';
          return el('tr', { class: 'run-row', 'data-run-id': r.info.run_id }, [el('td', {}, [r.info.run_name]), el('td', { class: 'run-user' }, [user]), el('td', {}, [r.info.status])]);
        });
        root.replaceChildren(
          el('h1', { id: 'experiment-name' }, [body.experiment.name]),
          el('table', { id: 'runs' }, [el('tr', {}, [el('th', {}, ['Run']), el('th', {}, ['User']), el('th', {}, ['Status'])])].concat(rows)),
          el('p', {}, [el('a', { href: '#/' }, ['All experiments'])])
        );
      });
    });
  }
  function route() {
    var m = /^#\\/experiments\\/([^/]+)/.exec(location.hash);
    (m ? experimentPage(decodeURIComponent(m[1])) : experimentsPage()).catch(fail);
  }
  window.addEventListener('hashchange', route);
  route();
})();
`;

export interface MlflowEmulatorOptions {
  port?: number;
  /** Ids given to the first runs created, in order (sandbox mode's demo run has the id the OpenAPI examples name); then random. */
  runIds?: string[];
  /** The same for logged models. */
  modelIds?: string[];
}

export async function startMlflow(opts: MlflowEmulatorOptions = {}): Promise<MlflowEmulator> {
  const presetRunIds = [...(opts.runIds ?? [])];
  const experiments = new Map<string, MlflowExperiment>();
  const runs = new Map<string, MlflowRun>();
  const artifacts = new Map<string, Buffer>();
  const requests: RecordedMlflowRequest[] = [];
  const traces: ReceivedTraces[] = [];
  const sockets = new Set<Socket>();
  let nextExperimentId = 1;
  let runCounter = 0;
  const created = Date.now();
  experiments.set('0', {
    experiment_id: '0',
    name: 'Default',
    artifact_location: 'mlflow-artifacts:/0',
    lifecycle_stage: 'active',
    last_update_time: created,
    creation_time: created,
  });

  const experimentById = (id: string) => {
    const e = experiments.get(id);
    if (!e) throw notFound(`No Experiment with id=${id} exists`);
    return e;
  };
  const runById = (id: string) => {
    const r = runs.get(id);
    if (!r) throw notFound(`Run with id=${id} not found`);
    return r;
  };
  const runIdOf = (p: Params) =>
    str(p, 'run_id') ??
    str(p, 'run_uuid') ??
    (() => {
      throw missing('run_id');
    })();
  const activeRun = (id: string) => {
    const r = runById(id);
    if (r.info.lifecycle_stage !== 'active') throw invalid(`The run ${id} must be in the 'active' state. Current state is deleted.`);
    return r;
  };
  const activeExperiment = (id: string) => {
    const e = experimentById(id);
    if (e.lifecycle_stage !== 'active') throw invalid(`The experiment ${id} must be in the 'active' state. Current state is deleted.`);
    return e;
  };
  const loggedModelRoutes = loggedModels({ activeExperiment: (id) => activeExperiment(id), presetIds: opts.modelIds });
  const registryRoutes = registry();
  const datasetRoutes = evaluationDatasets({ experimentExists: (id) => experiments.has(id) });
  const scorerRoutes = scorersAndWebhooks({ activeExperiment: (id) => activeExperiment(id) });
  const upsert = (list: MlflowTag[] | undefined, tag: MlflowTag): MlflowTag[] => [...(list ?? []).filter((t) => t.key !== tag.key), tag];
  const omitEmpty = <T extends Record<string, unknown>>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => !(Array.isArray(v) && v.length === 0) && v !== undefined)) as T;
  const experimentJson = (e: MlflowExperiment) => omitEmpty({ ...e });
  const runJson = (r: MlflowRun) => {
    const latest = new Map<string, MlflowMetric>();
    for (const m of r.data.metrics ?? []) {
      const cur = latest.get(m.key);
      if (!cur || m.step > cur.step || (m.step === cur.step && m.timestamp >= cur.timestamp)) latest.set(m.key, m);
    }
    return { info: { ...r.info }, data: omitEmpty({ metrics: [...latest.values()], params: r.data.params, tags: r.data.tags }), inputs: {} };
  };
  const logMetric = (r: MlflowRun, p: Params) => {
    const key = required(p, 'key');
    const value = p.value;
    if (value === undefined || value === null) throw missing('value');
    const v = typeof value === 'string' && /^(NaN|-?Infinity)$/.test(value) ? Number(value) : num(p, 'value');
    const timestamp = num(p, 'timestamp');
    if (timestamp === undefined) throw missing('timestamp');
    r.data.metrics = [...(r.data.metrics ?? []), { key, value: v as number, timestamp, step: num(p, 'step') ?? 0 }];
  };
  const logParam = (r: MlflowRun, p: Params) => {
    const key = required(p, 'key');
    const value = str(p, 'value') ?? '';
    const existing = r.data.params?.find((x) => x.key === key);
    if (existing && existing.value !== value) {
      throw invalid(
        `Changing param values is not allowed. Param with key='${key}' was already logged with value='${existing.value}' for run ID='${r.info.run_id}'. Attempted logging new value '${value}'.`,
      );
    }
    if (!existing) r.data.params = [...(r.data.params ?? []), { key, value }];
  };

  /** The entries directly under `dir` of the artifact store, named relative to `relativeTo`. */
  const listArtifacts = (dir: string, relativeTo: string) => {
    const prefix = dir ? `${dir}/` : '';
    const files = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
    for (const [key, bytes] of artifacts) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const first = rest.split('/')[0];
      const path = relativeTo ? `${relativeTo}/${first}` : first;
      files.set(first, rest.includes('/') ? { path, is_dir: true } : { path, is_dir: false, file_size: bytes.length });
    }
    return [...files.values()];
  };
  /** GET /get-artifact?path=&run_uuid= (Flask's request.args: names as spelled, the first value). */
  const getArtifact = (req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams) => {
    const p = queryMessage(query, [], 'args');
    const r = runById(str(p, 'run_id') ?? required(p, 'run_uuid'));
    const path = required(p, 'path');
    const bytes = artifacts.get(`${r.info.experiment_id}/${r.info.run_id}/artifacts/${path}`);
    if (!bytes) throw notFound(`File not found: ${path}`);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };

  type Handler = (p: Params) => unknown;
  /** `repeated`: the repeated fields of a GET request; `args`: read from Flask's request.args, not as a protobuf message. */
  const handlers: Record<string, { methods: string[]; run: Handler; repeated?: string[]; args?: true }> = {
    'experiments/create': {
      methods: ['POST'],
      run: (p) => {
        const name = required(p, 'name');
        if ([...experiments.values()].some((e) => e.name === name)) {
          throw new MlflowError(400, 'RESOURCE_ALREADY_EXISTS', `Experiment(name=${name}) already exists. Error: (raised as a result of Query-invoked autoflush)`);
        }
        const id = String(nextExperimentId++);
        const now = Date.now();
        experiments.set(id, {
          experiment_id: id,
          name,
          artifact_location: str(p, 'artifact_location') ?? `mlflow-artifacts:/${id}`,
          lifecycle_stage: 'active',
          last_update_time: now,
          creation_time: now,
          tags: tagsOf(p.tags, 'tags'),
        });
        return { experiment_id: id };
      },
    },
    'experiments/get': { methods: ['GET'], run: (p) => ({ experiment: experimentJson(experimentById(required(p, 'experiment_id'))) }) },
    'experiments/get-by-name': {
      methods: ['GET'],
      run: (p) => {
        const name = required(p, 'experiment_name');
        const e = [...experiments.values()].find((x) => x.name === name);
        if (!e) throw notFound(`Could not find experiment with name '${name}'`);
        return { experiment: experimentJson(e) };
      },
    },
    'experiments/search': {
      methods: ['GET', 'POST'],
      repeated: ['order_by'],
      run: (p) => {
        const stage = viewFilter(str(p, 'view_type'));
        const match = experimentFilter(str(p, 'filter'));
        const all = [...experiments.values()]
          .filter((e) => stage(e.lifecycle_stage) && match(e))
          .sort((a, b) => b.creation_time - a.creation_time || Number(b.experiment_id) - Number(a.experiment_id));
        const { page, next } = paginate(all, p, 1000);
        return omitEmpty({ experiments: page.map(experimentJson), next_page_token: next });
      },
    },
    'experiments/update': {
      methods: ['POST'],
      run: (p) => {
        const e = activeExperiment(required(p, 'experiment_id'));
        const name = str(p, 'new_name');
        if (name !== undefined) {
          if ([...experiments.values()].some((x) => x.name === name && x !== e))
            throw new MlflowError(400, 'RESOURCE_ALREADY_EXISTS', `Experiment(name=${name}) already exists.`);
          e.name = name;
        }
        e.last_update_time = Date.now();
        return {};
      },
    },
    'experiments/delete': {
      methods: ['POST'],
      run: (p) => {
        const id = required(p, 'experiment_id');
        if (id === '0') throw invalid("Cannot delete the default experiment '0'. This is an internally reserved experiment.");
        const e = experimentById(id);
        e.lifecycle_stage = 'deleted';
        e.last_update_time = Date.now();
        return {};
      },
    },
    'experiments/restore': {
      methods: ['POST'],
      run: (p) => {
        const e = experimentById(required(p, 'experiment_id'));
        e.lifecycle_stage = 'active';
        e.last_update_time = Date.now();
        return {};
      },
    },
    'experiments/delete-experiment-tag': {
      methods: ['POST'],
      run: (p) => {
        const e = activeExperiment(required(p, 'experiment_id'));
        const key = required(p, 'key');
        if (!e.tags?.some((t) => t.key === key)) throw notFound(`No tag with name: ${key} in experiment with id ${e.experiment_id}`);
        e.tags = e.tags.filter((t) => t.key !== key);
        return {};
      },
    },
    'experiments/set-experiment-tag': {
      methods: ['POST'],
      run: (p) => {
        const e = activeExperiment(required(p, 'experiment_id'));
        e.tags = upsert(e.tags, { key: required(p, 'key'), value: str(p, 'value') ?? '' });
        return {};
      },
    },
    'runs/create': {
      methods: ['POST'],
      run: (p) => {
        const experimentId = str(p, 'experiment_id') ?? '0';
        activeExperiment(experimentId);
        const id = presetRunIds.shift() ?? randomUUID().replace(/-/g, '');
        const runName = str(p, 'run_name') ?? `sandbox-run-${++runCounter}`;
        let tags = tagsOf(p.tags, 'tags');
        tags = upsert(tags, { key: 'mlflow.runName', value: runName });
        const run: MlflowRun = {
          info: {
            run_uuid: id,
            run_id: id,
            run_name: runName,
            experiment_id: experimentId,
            user_id: str(p, 'user_id') ?? '',
            status: 'RUNNING',
            start_time: num(p, 'start_time') ?? Date.now(),
            artifact_uri: `mlflow-artifacts:/${experimentId}/${id}/artifacts`,
            lifecycle_stage: 'active',
          },
          data: { tags },
          inputs: {},
        };
        runs.set(id, run);
        return { run: runJson(run) };
      },
    },
    'runs/get': { methods: ['GET'], run: (p) => ({ run: runJson(runById(runIdOf(p))) }) },
    'runs/update': {
      methods: ['POST'],
      run: (p) => {
        const r = activeRun(runIdOf(p));
        const status = str(p, 'status');
        if (status !== undefined) {
          if (!['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'].includes(status)) throw invalid(`Invalid value ${status} for parameter 'status' supplied.`);
          r.info.status = status as MlflowRunInfo['status'];
        }
        const end = num(p, 'end_time');
        if (end !== undefined) r.info.end_time = end;
        const name = str(p, 'run_name');
        if (name !== undefined) {
          r.info.run_name = name;
          r.data.tags = upsert(r.data.tags, { key: 'mlflow.runName', value: name });
        }
        return { run_info: { ...r.info } };
      },
    },
    'runs/delete': {
      methods: ['POST'],
      run: (p) => {
        runById(runIdOf(p)).info.lifecycle_stage = 'deleted';
        return {};
      },
    },
    'runs/restore': {
      methods: ['POST'],
      run: (p) => {
        runById(runIdOf(p)).info.lifecycle_stage = 'active';
        return {};
      },
    },
    'runs/search': {
      methods: ['POST'],
      run: (p) => {
        const ids = p.experiment_ids;
        if (ids !== undefined && (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string'))) {
          throw invalid("Invalid value for parameter 'experiment_ids' supplied: expected a list of strings");
        }
        const wanted = new Set((ids as string[] | undefined) ?? []);
        const stage = viewFilter(str(p, 'run_view_type'));
        const match = runFilter(str(p, 'filter'));
        const all = [...runs.values()]
          .filter((r) => wanted.has(r.info.experiment_id) && stage(r.info.lifecycle_stage) && match(r))
          .sort((a, b) => b.info.start_time - a.info.start_time);
        const { page, next } = paginate(all, p, 1000);
        return omitEmpty({ runs: page.map(runJson), next_page_token: next });
      },
    },
    'runs/log-metric': {
      methods: ['POST'],
      run: (p) => {
        logMetric(activeRun(runIdOf(p)), p);
        return {};
      },
    },
    'runs/log-parameter': {
      methods: ['POST'],
      run: (p) => {
        logParam(activeRun(runIdOf(p)), p);
        return {};
      },
    },
    'runs/set-tag': {
      methods: ['POST'],
      run: (p) => {
        const r = activeRun(runIdOf(p));
        r.data.tags = upsert(r.data.tags, { key: required(p, 'key'), value: str(p, 'value') ?? '' });
        return {};
      },
    },
    'runs/delete-tag': {
      methods: ['POST'],
      run: (p) => {
        const r = activeRun(runIdOf(p));
        const key = required(p, 'key');
        if (!r.data.tags?.some((t) => t.key === key)) throw notFound(`No tag with name: ${key} in run with id ${r.info.run_id}`);
        r.data.tags = r.data.tags.filter((t) => t.key !== key);
        return {};
      },
    },
    'runs/log-batch': {
      methods: ['POST'],
      run: (p) => {
        const r = activeRun(runIdOf(p));
        const metrics = (p.metrics ?? []) as unknown;
        const params = (p.params ?? []) as unknown;
        if (!Array.isArray(metrics) || !Array.isArray(params)) throw invalid("Invalid value for parameter 'metrics' or 'params' supplied: expected a list");
        if (metrics.length > 1000 || params.length > 100 || tagsOf(p.tags, 'tags').length > 100) {
          throw invalid('A batch logging request can contain at most 1000 metrics, 100 params and 100 tags');
        }
        for (const m of metrics) logMetric(r, (m ?? {}) as Params);
        for (const x of params) logParam(r, (x ?? {}) as Params);
        for (const t of tagsOf(p.tags, 'tags')) r.data.tags = upsert(r.data.tags, t);
        return {};
      },
    },
    'runs/log-model': {
      methods: ['POST'],
      run: (p) => {
        const r = activeRun(runIdOf(p));
        const model = required(p, 'model_json');
        const history = r.data.tags?.find((t) => t.key === 'mlflow.log-model.history')?.value;
        r.data.tags = upsert(r.data.tags, {
          key: 'mlflow.log-model.history',
          value: JSON.stringify([...(history ? (JSON.parse(history) as unknown[]) : []), model]),
        });
        return {};
      },
    },
    'runs/log-inputs': {
      methods: ['POST'],
      run: (p) => {
        activeRun(runIdOf(p));
        if (p.datasets !== undefined && !Array.isArray(p.datasets)) throw invalid("Invalid value for parameter 'datasets' supplied: expected a list");
        return {};
      },
    },
    'metrics/get-history-bulk': {
      methods: ['GET'],
      args: true,
      repeated: ['run_id'],
      run: (p) => {
        const ids = (p.run_id ?? []) as string[];
        if (ids.length === 0) throw invalid('GetMetricHistoryBulk request must specify at least one run_id.');
        const key = required(p, 'metric_key');
        return omitEmpty({ metrics: ids.flatMap((id) => (runById(id).data.metrics ?? []).filter((m) => m.key === key).map((m) => ({ ...m, run_id: id }))) });
      },
    },
    'metrics/get-history-bulk-interval': {
      methods: ['GET'],
      repeated: ['run_ids'],
      run: (p) => {
        const ids = (p.run_ids ?? []) as string[];
        if (ids.length === 0) throw missing('run_ids');
        const key = required(p, 'metric_key');
        const start = num(p, 'start_step') ?? -Infinity;
        const end = num(p, 'end_step') ?? Infinity;
        return omitEmpty({
          metrics: ids.flatMap((id) =>
            (runById(id).data.metrics ?? []).filter((m) => m.key === key && m.step >= start && m.step <= end).map((m) => ({ ...m, run_id: id })),
          ),
        });
      },
    },
    'artifacts/list': {
      methods: ['GET'],
      run: (p) => {
        const r = runById(runIdOf(p));
        const root = `${r.info.experiment_id}/${r.info.run_id}/artifacts`;
        const dir = (str(p, 'path') ?? '').replace(/\/+$/, '');
        return omitEmpty({ root_uri: r.info.artifact_uri, files: listArtifacts(dir ? `${root}/${dir}` : root, dir) });
      },
    },
    'metrics/get-history': {
      methods: ['GET'],
      run: (p) => {
        const r = runById(runIdOf(p));
        const key = required(p, 'metric_key');
        return omitEmpty({ metrics: (r.data.metrics ?? []).filter((m) => m.key === key) });
      },
    },
  };

  async function restCall(req: http.IncomingMessage, res: http.ServerResponse, endpoint: string, query: URLSearchParams, record: RecordedMlflowRequest, v3 = false) {
    const asGet = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const h = v3
      ? (datasetRoutes.route(endpoint, asGet) ?? scorerRoutes.scorerRoute(endpoint))
      : (handlers[endpoint] ?? loggedModelRoutes.route(endpoint, asGet) ?? registryRoutes.route(endpoint) ?? scorerRoutes.webhookRoute(endpoint, asGet));
    if (!h) throw new MlflowError(404, 'ENDPOINT_NOT_FOUND', `No API endpoint found for ${endpoint}`);
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    if (!h.methods.includes(method)) throw new MlflowError(405, 'BAD_REQUEST', `The method is not allowed for the requested URL.`);
    let params: Params;
    if (method === 'GET') {
      params = queryMessage(query, h.repeated ?? [], h.args ? 'args' : 'proto');
    } else {
      const raw = (await readRaw(req, MAX_JSON_BODY)).toString('utf8');
      record.body = raw;
      // MLflow reads POST bodies as JSON whatever the content type (request.get_json(force=True)).
      try {
        params = raw.trim() === '' ? {} : (JSON.parse(raw) as Params);
      } catch {
        throw new MlflowError(400, 'MALFORMED_REQUEST', 'Malformed request body: invalid JSON');
      }
      if (!params || typeof params !== 'object' || Array.isArray(params))
        throw new MlflowError(400, 'MALFORMED_REQUEST', 'Malformed request body: expected a JSON object');
      params = protoMessage(params) as Params;
    }
    send(res, 200, await h.run(params));
  }

  async function graphqlCall(req: http.IncomingMessage, res: http.ServerResponse, record: RecordedMlflowRequest) {
    const raw = (await readRaw(req, MAX_JSON_BODY)).toString('utf8');
    record.body = raw;
    let body: Params;
    try {
      body = JSON.parse(raw) as Params;
    } catch {
      throw new MlflowError(400, 'MALFORMED_REQUEST', 'Malformed request body: invalid JSON');
    }
    send(res, 200, await graphqlAnswer((endpoint, params) => handlers[endpoint].run(params), body));
  }

  async function artifactCall(req: http.IncomingMessage, res: http.ServerResponse, path: string, query: URLSearchParams) {
    const rel = path.replace(/^\/(?:api|ajax-api)\/2\.0\/mlflow-artifacts\/artifacts\/?/, '');
    if (rel === '' && req.method === 'GET') {
      const dir = String(queryMessage(query, [], 'proto').path ?? '').replace(/\/+$/, '');
      return send(res, 200, omitEmpty({ files: listArtifacts(dir, '') }));
    }
    const key = decodeURIComponent(rel);
    if (req.method === 'PUT') {
      artifacts.set(key, await readRaw(req, 512 * 1024 * 1024));
      // MLflow answers an upload with an empty 200.
      res.writeHead(200, { 'content-length': '0' });
      return res.end();
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const bytes = artifacts.get(key);
      if (!bytes) throw notFound(`File not found: ${key}`);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
      return res.end(req.method === 'HEAD' ? undefined : bytes);
    }
    if (req.method === 'DELETE') {
      artifacts.delete(key);
      return send(res, 200, {});
    }
    throw new MlflowError(405, 'BAD_REQUEST', 'The method is not allowed for the requested URL.');
  }

  async function traceCall(req: http.IncomingMessage, res: http.ServerResponse) {
    const experimentId = req.headers['x-mlflow-experiment-id'];
    if (typeof experimentId !== 'string' || experimentId === '') throw invalid('Missing required header: X-Mlflow-Experiment-Id');
    activeExperiment(experimentId);
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json' && type !== 'application/x-protobuf') {
      throw new MlflowError(415, 'INVALID_PARAMETER_VALUE', `Unsupported content type '${type}': use application/x-protobuf or application/json`);
    }
    const raw = await readRaw(req, 64 * 1024 * 1024);
    let spans: ReceivedSpan[];
    try {
      spans = type === 'application/json' ? jsonSpans(JSON.parse(raw.toString('utf8'))) : protobufSpans(raw);
    } catch (err) {
      throw invalid(`Invalid OTLP payload: ${(err as Error).message}`);
    }
    traces.push({ experimentId, contentType: type === 'application/json' ? 'json' : 'protobuf', spans, headers: { ...req.headers }, bytes: raw.length });
    // ExportTraceServiceResponse without partial_success: `{}` in JSON, zero bytes in protobuf.
    if (type === 'application/json') return send(res, 200, {});
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' });
    res.end();
  }

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const record: RecordedMlflowRequest = { method: req.method ?? 'GET', path: url, headers: { ...req.headers } };
    requests.push(record);
    if (requests.length > MAX_LOG) requests.splice(0, requests.length - MAX_LOG);

    const handle = async () => {
      const rest = /^\/(?:api|ajax-api)\/2\.0\/mlflow\/(.+)$/.exec(path);
      if (rest) return restCall(req, res, rest[1], query, record);
      // MLflow 3's evaluation datasets (mlflow-datasets.ts) and registered scorers (mlflow-scorers.ts).
      const v3 = /^\/(?:api|ajax-api)\/3\.0\/mlflow\/((?:datasets|scorers)\/.+)$/.exec(path);
      if (v3) return restCall(req, res, v3[1], query, record, true);
      if (/^\/(?:api|ajax-api)\/2\.0\/mlflow-artifacts\/artifacts(?:\/|$)/.test(path)) return artifactCall(req, res, path, query);
      // MLflow 3's trace info (GetTraceInfoV3), of the traces received on /v1/traces: the BFF asks it for a trace's experiment.
      const traceInfo = /^\/(?:api|ajax-api)\/3\.0\/mlflow\/traces\/(tr-[0-9a-f]{32})$/.exec(path);
      if (traceInfo && (req.method === 'GET' || req.method === 'HEAD')) {
        const got = traces.find((t) => t.spans.some((sp) => `tr-${sp.traceId}` === traceInfo[1]));
        if (!got) throw notFound(`Trace with ID '${traceInfo[1]}' not found.`);
        const trace_location = { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: got.experimentId } };
        return send(res, 200, { trace: { trace_info: { trace_id: traceInfo[1], trace_location } } });
      }
      if (path === '/v1/traces') {
        if (req.method !== 'POST') throw new MlflowError(405, 'BAD_REQUEST', 'The method is not allowed for the requested URL.');
        return traceCall(req, res);
      }
      if (path === '/graphql' && req.method === 'POST') return graphqlCall(req, res, record);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new MlflowError(405, 'BAD_REQUEST', 'The method is not allowed for the requested URL.');
      if (path === '/get-artifact') return getArtifact(req, res, query);
      if (path === '/health') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        return res.end('OK');
      }
      if (path === '/version') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        return res.end(MLFLOW_EMULATOR_VERSION);
      }
      if (path === '/' || path === '/index.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        return res.end(UI_HTML);
      }
      if (path === '/static-files/static/js/main.js') {
        res.writeHead(200, { 'content-type': 'application/javascript; charset=utf-8', 'cache-control': 'public, max-age=300' });
        return res.end(UI_JS);
      }
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>404 Not Found</title><h1>Not Found</h1>');
    };
    handle().catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      if (err instanceof MlflowError) return send(res, err.status, { error_code: err.code, message: err.message });
      send(res, 500, { error_code: 'INTERNAL_ERROR', message: (err as Error).message });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    traces,
    experiment: (id) => experiments.get(id),
    run: (id) => runs.get(id),
    artifact: (path) => artifacts.get(path),
    loggedModel: (id) => loggedModelRoutes.model(id),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
