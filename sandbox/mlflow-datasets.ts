/**
 * MLflow 3's evaluation datasets (`/api/3.0/mlflow/datasets…`, what `mlflow.genai.datasets` calls), as the
 * real tracking server answers them (shapes and errors checked against MLflow 3.17.2): create, get, delete,
 * search, tags, records (upsert by inputs, read in pages, delete), the experiments a dataset is linked to.
 * Tags, schema, profile and records travel as JSON text, as MLflow's do.
 */
import { createHash, randomUUID } from 'node:crypto';
import { invalid, likeToRegex, missing, MlflowError, notFound, num, paginate, required, str, type Params } from './mlflow-messages';

const MLFLOW_USER = 'mlflow.user';

interface DatasetRecord {
  dataset_record_id: string;
  dataset_id: string;
  inputs: Record<string, unknown>;
  expectations?: Record<string, unknown>;
  outputs: Record<string, unknown>;
  tags: Record<string, string>;
  source?: unknown;
  created_time: number;
  last_update_time: number;
  created_by?: string;
  last_updated_by?: string;
}

interface Dataset {
  dataset_id: string;
  name: string;
  tags: Record<string, string>;
  schema?: string;
  profile?: string;
  digest: string;
  created_time: number;
  last_update_time: number;
  created_by?: string;
  last_updated_by?: string;
  experiments: string[];
  records: DatasetRecord[];
}

export interface DatasetRoute {
  methods: string[];
  repeated?: string[];
  args?: true;
  run(p: Params): unknown;
}

/** A JSON text MLflow json.loads (its 500 for anything else is an error here too). */
function parse(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MlflowError(500, 'INTERNAL_ERROR', `${name} is not JSON`);
  }
}

const TYPES = (v: unknown): string =>
  v === null
    ? 'null'
    : typeof v === 'boolean'
      ? 'boolean'
      : typeof v === 'number'
        ? Number.isInteger(v)
          ? 'integer'
          : 'float'
        : typeof v === 'string'
          ? 'string'
          : Array.isArray(v)
            ? 'array'
            : typeof v === 'object'
              ? 'object'
              : 'unknown';

/** Stable JSON of a record's inputs (what MLflow deduplicates records by). */
const canonical = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(',')}]`
    : v && typeof v === 'object'
      ? `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
          .join(',')}}`
      : JSON.stringify(v);

/** The endpoints, for the emulator's router: `route(endpoint, method)` for an endpoint under /api/3.0/mlflow/. */
export function evaluationDatasets(opts: { experimentExists(id: string): boolean }) {
  const datasets = new Map<string, Dataset>();
  const digest = (name: string, time: number) => createHash('sha256').update(`${name}:${time}`).digest('hex').slice(0, 8);
  const byId = (id: string, message: string) => {
    const d = datasets.get(id);
    if (!d) throw notFound(message);
    return d;
  };
  const json = (d: Dataset, withExperiments = false) => {
    const out: Record<string, unknown> = { dataset_id: d.dataset_id, name: d.name, tags: JSON.stringify(d.tags) };
    if (d.schema !== undefined) out.schema = d.schema;
    if (d.profile !== undefined) out.profile = d.profile;
    Object.assign(out, { digest: d.digest, created_time: d.created_time, last_update_time: d.last_update_time });
    if (d.created_by) out.created_by = d.created_by;
    if (d.last_updated_by) out.last_updated_by = d.last_updated_by;
    if (withExperiments && d.experiments.length > 0) out.experiment_ids = [...d.experiments];
    return out;
  };
  const recordJson = (r: DatasetRecord) => {
    const out: Record<string, unknown> = { dataset_record_id: r.dataset_record_id, dataset_id: r.dataset_id, inputs: r.inputs };
    if (r.expectations !== undefined) out.expectations = r.expectations;
    out.tags = r.tags;
    if (r.source !== undefined) out.source = r.source;
    Object.assign(out, { created_time: r.created_time, last_update_time: r.last_update_time });
    if (r.created_by) out.created_by = r.created_by;
    if (r.last_updated_by) out.last_updated_by = r.last_updated_by;
    out.outputs = r.outputs;
    return out;
  };
  const tagsOf = (p: Params): Record<string, string> => {
    const text = str(p, 'tags');
    return text ? (parse(text, 'tags') as Record<string, string>) : {};
  };

  const create = (p: Params) => {
    const name = required(p, 'name');
    const tags = tagsOf(p);
    const now = Date.now();
    const d: Dataset = {
      dataset_id: `d-${randomUUID().replace(/-/g, '')}`,
      name,
      tags,
      digest: digest(name, now),
      created_time: now,
      last_update_time: now,
      created_by: tags[MLFLOW_USER],
      last_updated_by: tags[MLFLOW_USER],
      experiments: ((p.experiment_ids ?? []) as unknown[]).map(String),
      records: [],
    };
    datasets.set(d.dataset_id, d);
    return { dataset: json(d, true) };
  };

  const search = (p: Params) => {
    const ids = ((p.experiment_ids ?? []) as unknown[]).map(String);
    const match = datasetFilter(str(p, 'filter_string'));
    const all = [...datasets.values()]
      .filter((d) => (ids.length === 0 || d.experiments.some((e) => ids.includes(e))) && match(d))
      .sort((a, b) => b.created_time - a.created_time || b.dataset_id.localeCompare(a.dataset_id));
    const { page, next } = paginate(all, p, 1000);
    const out: Record<string, unknown> = page.length > 0 ? { datasets: page.map((d) => json(d)) } : {};
    return next ? { ...out, next_page_token: next } : out;
  };

  const upsert = (d: Dataset, p: Params) => {
    const given = parse(required(p, 'records'), 'records') as Array<Record<string, unknown>>;
    const now = Date.now();
    let inserted = 0;
    let updated = 0;
    let updatedBy: string | undefined;
    const schema = d.schema
      ? (JSON.parse(d.schema) as Record<string, Record<string, string>>)
      : { inputs: {}, outputs: {}, expectations: {}, version: '1.0' as unknown as Record<string, string> };
    for (const r of given) {
      const tags = (r.tags ?? {}) as Record<string, string>;
      if (tags[MLFLOW_USER]) updatedBy = tags[MLFLOW_USER];
      const key = canonical(r.inputs ?? {});
      const existing = d.records.find((x) => canonical(x.inputs) === key);
      if (existing) {
        if (r.expectations) existing.expectations = { ...existing.expectations, ...(r.expectations as Record<string, unknown>) };
        if (r.outputs) existing.outputs = r.outputs as Record<string, unknown>;
        existing.tags = { ...existing.tags, ...tags };
        if (tags[MLFLOW_USER]) existing.last_updated_by = tags[MLFLOW_USER];
        existing.last_update_time = now;
        updated++;
      } else {
        d.records.push({
          dataset_record_id: `dr-${randomUUID().replace(/-/g, '')}`,
          dataset_id: d.dataset_id,
          inputs: (r.inputs ?? {}) as Record<string, unknown>,
          expectations: r.expectations as Record<string, unknown> | undefined,
          outputs: (r.outputs ?? {}) as Record<string, unknown>,
          tags,
          source: r.source,
          created_time: now,
          last_update_time: now,
          created_by: tags[MLFLOW_USER],
          last_updated_by: tags[MLFLOW_USER],
        });
        inserted++;
      }
      for (const part of ['inputs', 'outputs', 'expectations'] as const) {
        for (const [k, v] of Object.entries((r[part] ?? {}) as Record<string, unknown>)) schema[part][k] ??= TYPES(v);
      }
    }
    if (given.length > 0 || d.schema) d.schema = JSON.stringify(schema);
    if (d.records.length > 0) d.profile = JSON.stringify({ num_records: d.records.length });
    d.last_update_time = now;
    d.last_updated_by = updatedBy;
    d.digest = digest(d.name, now);
    return { inserted_count: inserted, updated_count: updated };
  };

  const records = (d: Dataset | undefined, p: Params) => {
    const size = num(p, 'max_results') ?? 1000;
    const sorted = [...(d?.records ?? [])].sort((a, b) => a.created_time - b.created_time || a.dataset_record_id.localeCompare(b.dataset_record_id));
    const token = str(p, 'page_token');
    const after = token ? Buffer.from(token, 'base64').toString('utf8') : undefined;
    const start = after ? sorted.findIndex((r) => `${r.created_time}:${r.dataset_record_id}` === after) + 1 : 0;
    const page = sorted.slice(start, start + size);
    const last = page[page.length - 1];
    const out: Record<string, unknown> = { records: JSON.stringify(page.map(recordJson)) };
    if (start + size < sorted.length && last) out.next_page_token = Buffer.from(`${last.created_time}:${last.dataset_record_id}`).toString('base64');
    return out;
  };

  function route(endpoint: string, method: string): DatasetRoute | undefined {
    if (endpoint === 'datasets/create') return { methods: ['POST'], run: create };
    if (endpoint === 'datasets/search') return { methods: ['POST', 'GET'], repeated: ['experiment_ids', 'order_by'], run: search };
    const m = /^datasets\/([^/]+)(?:\/(tags|records|experiment-ids|add-experiments|remove-experiments)(?:\/([^/]+))?)?$/.exec(endpoint);
    if (!m) return undefined;
    const id = decodeURIComponent(m[1]);
    const [, , sub, key] = m;
    if (!sub && method === 'DELETE') return { methods: ['DELETE'], run: () => (datasets.delete(id), {}) };
    if (!sub) return { methods: ['GET'], run: () => ({ dataset: json(byId(id, `Evaluation dataset with id '${id}' not found`)) }) };
    if (sub === 'experiment-ids' && key === undefined) {
      return { methods: ['GET'], run: () => (datasets.get(id)?.experiments.length ? { experiment_ids: [...datasets.get(id)!.experiments] } : {}) };
    }
    if (sub === 'tags' && key !== undefined) {
      return {
        methods: ['DELETE'],
        run: () => {
          const d = datasets.get(id);
          if (d) delete d.tags[decodeURIComponent(key)];
          return {};
        },
      };
    }
    if (sub === 'tags') {
      return {
        methods: ['PATCH'],
        run: (p) => {
          if (str(p, 'tags') === undefined) throw missing('tags');
          const d = byId(id, `Could not find evaluation dataset with ID ${id}`);
          d.tags = { ...d.tags, ...tagsOf(p) };
          return {};
        },
      };
    }
    if (sub === 'records' && key === undefined) {
      if (method === 'POST') {
        return {
          methods: ['POST'],
          run: (p) => {
            if (str(p, 'records') === undefined) throw missing('records');
            return upsert(byId(id, `Could not find evaluation dataset with ID ${id}`), p);
          },
        };
      }
      if (method === 'DELETE')
        return {
          methods: ['DELETE'],
          run: (p) => {
            const d = datasets.get(id);
            const gone = new Set(((p.dataset_record_ids ?? []) as unknown[]).map(String));
            const before = d?.records.length ?? 0;
            if (d) d.records = d.records.filter((r) => !gone.has(r.dataset_record_id));
            const deleted = before - (d?.records.length ?? 0);
            if (d && deleted > 0) d.profile = d.records.length > 0 ? JSON.stringify({ num_records: d.records.length }) : 'null';
            return { deleted_count: deleted };
          },
        };
      return { methods: ['GET'], run: (p) => records(datasets.get(id), p) };
    }
    if ((sub === 'add-experiments' || sub === 'remove-experiments') && key === undefined) {
      return {
        methods: ['POST'],
        run: (p) => {
          const d = byId(id, `Dataset '${id}' not found`);
          const named = ((p.experiment_ids ?? []) as unknown[]).map(String);
          const unknown = sub === 'add-experiments' ? named.find((e) => !opts.experimentExists(e)) : undefined;
          if (unknown !== undefined) throw notFound(`No Experiment with id=${unknown}`);
          d.experiments = sub === 'add-experiments' ? [...new Set([...d.experiments, ...named])] : d.experiments.filter((e) => !named.includes(e));
          d.last_update_time = Date.now();
          return { dataset: json(d) };
        },
      };
    }
    return undefined;
  }

  return { route };
}

/**
 * `name|created_by|last_updated_by = | != | LIKE | ILIKE '…'` and `created_time|last_update_time` compared with a
 * number (mlflow.genai.datasets.search_datasets sends `created_time >= <a week ago>` by default), joined by AND.
 */
function datasetFilter(filter: string | undefined): (d: Dataset) => boolean {
  if (!filter) return () => true;
  const clauses = filter.split(/\s+AND\s+/i).map((c): ((d: Dataset) => boolean) => {
    const text = /^\s*(name|created_by|last_updated_by)\s*(=|!=|LIKE|ILIKE)\s*'((?:[^']|'')*)'\s*$/i.exec(c);
    if (text) {
      const value = text[3].replace(/''/g, "'");
      const get = (d: Dataset) => (d as unknown as Record<string, string | undefined>)[text[1].toLowerCase()] ?? '';
      const op = text[2].toUpperCase();
      if (op === '=') return (d) => get(d) === value;
      if (op === '!=') return (d) => get(d) !== value;
      const re = likeToRegex(value, op === 'ILIKE' ? 'i' : '');
      return (d) => re.test(get(d));
    }
    const time = /^\s*(created_time|last_update_time)\s*(=|!=|>=|<=|>|<)\s*(\d+)\s*$/i.exec(c);
    if (!time) throw invalid(`Invalid filter '${filter}'. Could not be parsed.`);
    const n = Number(time[3]);
    const get = (d: Dataset) => (time[1].toLowerCase() === 'created_time' ? d.created_time : d.last_update_time);
    const compare: Record<string, (a: number) => boolean> = {
      '=': (a) => a === n,
      '!=': (a) => a !== n,
      '>=': (a) => a >= n,
      '<=': (a) => a <= n,
      '>': (a) => a > n,
      '<': (a) => a < n,
    };
    return (d) => compare[time[2]](get(d));
  });
  return (d) => clauses.every((c) => c(d));
}
