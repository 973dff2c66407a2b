/**
 * MLflow 3's registered scorers (`/api/3.0/mlflow/scorers/…`) and the model registry's webhooks
 * (`/api/2.0/mlflow/webhooks…`), as the real tracking server answers them (shapes and errors checked
 * against MLflow 3.17.2; test/mlflow-real/emulator-agreement.spec.ts). Webhooks are served as MLflow
 * configured to deliver to http and private addresses (MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https,
 * MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true), the sandbox's receivers being on loopback; a test delivery
 * sends MLflow's example payload of a model version's creation, whatever the event.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { invalid, missing, notFound, num, offsetOf, required, str, type Params } from './mlflow-messages';

export interface ScorerRoute {
  methods: string[];
  run(p: Params): unknown;
  /** The repeated fields of a GET request. */
  repeated?: string[];
  /** Read from Flask's request.args by name (online-configs), not as a protobuf message. */
  args?: true;
}

interface ScorerVersion {
  version: number;
  serialized: string;
  creation_time: number;
}

interface Webhook {
  webhook_id: string;
  name: string;
  description?: string;
  url: string;
  events: Array<{ entity: string; action: string }>;
  secret?: string;
  status: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
}

/** MLflow refuses a decorated function's code (`@scorer`) unless its operator allows it. */
const CUSTOM_SCORER_REFUSED =
  'Custom scorer registration (using @scorer decorator) is disabled by default outside of Databricks tracking environments due to security concerns. ' +
  'Custom scorers require arbitrary code execution during deserialization.\n\nTo use custom scorers:\n' +
  '1. Configure MLflow to use a Databricks tracking URI, or\n' +
  '2. Manage your custom scorer code in a source code repository (e.g., GitHub) and import it directly, or\n' +
  "3. On a self-managed MLflow server (or local environment) that you trust to run the scorer's code, set the MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS environment variable to true, or\n" +
  '4. Use built-in scorers or make_judge() scorers instead.';

const VALID_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  REGISTERED_MODEL: ['CREATED'],
  MODEL_VERSION: ['CREATED'],
  MODEL_VERSION_TAG: ['SET', 'DELETED'],
  MODEL_VERSION_ALIAS: ['CREATED', 'DELETED'],
  PROMPT: ['CREATED'],
  PROMPT_VERSION: ['CREATED'],
  PROMPT_TAG: ['SET', 'DELETED'],
  PROMPT_VERSION_TAG: ['SET', 'DELETED'],
  PROMPT_ALIAS: ['CREATED', 'DELETED'],
  BUDGET_POLICY: ['EXCEEDED'],
};
const WEBHOOK_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/** Python's json.dumps (MLflow re-serializes a scorer in listings): `, ` and `: ` separators, non-ASCII escaped. */
export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`)
      .join(', ')}}`;
  }
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return JSON.stringify(value);
}

/** `call_source` anywhere in a serialized scorer (an ensemble's members too): a decorated function's code. */
function hasCode(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasCode);
  if (!value || typeof value !== 'object') return false;
  const o = value as Record<string, unknown>;
  return (typeof o.call_source === 'string' && o.call_source !== '') || Object.values(o).some(hasCode);
}

/** The endpoints, for the emulator's router: `scorerRoute` under /api/3.0/mlflow/, `webhookRoute` under /api/2.0/mlflow/. */
export function scorersAndWebhooks(opts: { activeExperiment(id: string): unknown }) {
  const scorers = new Map<string, { scorer_id: string; experiment_id: string; name: string; versions: ScorerVersion[] }>();
  const webhooks = new Map<string, Webhook>();

  const scorerOf = (experimentId: string, name: string) => {
    const s = scorers.get(`${experimentId}/${name}`);
    if (!s || s.versions.length === 0) throw notFound(`Scorer with name '${name}' not found for experiment ${experimentId}.`);
    return s;
  };
  const versionOf = (p: Params) => {
    const experimentId = required(p, 'experiment_id');
    const name = required(p, 'name');
    const s = scorerOf(experimentId, name);
    const wanted = num(p, 'version');
    const v = wanted === undefined ? s.versions[s.versions.length - 1] : s.versions.find((x) => x.version === wanted);
    if (!v) throw notFound(`Scorer with name '${name}' and version ${wanted} not found for experiment ${experimentId}.`);
    return { s, v };
  };
  /** A Scorer message; listings carry the scorer re-serialized by Python, a get the stored text. */
  const scorerJson = (s: { scorer_id: string; experiment_id: string; name: string }, v: ScorerVersion, reserialized: boolean) => ({
    experiment_id: Number(s.experiment_id),
    scorer_name: s.name,
    scorer_version: v.version,
    serialized_scorer: reserialized ? pythonJson(JSON.parse(v.serialized)) : v.serialized,
    creation_time: v.creation_time,
    scorer_id: s.scorer_id,
  });
  const listed = (items: unknown[], list: string) => (items.length > 0 ? { [list]: items } : {});

  const scorerRoutes: Record<string, ScorerRoute> = {
    'scorers/register': {
      methods: ['POST'],
      run: (p) => {
        const experimentId = required(p, 'experiment_id');
        const name = required(p, 'name');
        const serialized = required(p, 'serialized_scorer');
        let parsed: unknown;
        try {
          parsed = JSON.parse(serialized);
        } catch {
          throw invalid('serialized_scorer must be valid JSON');
        }
        if (hasCode(parsed)) throw invalid(CUSTOM_SCORER_REFUSED);
        opts.activeExperiment(experimentId);
        const key = `${experimentId}/${name}`;
        const s = scorers.get(key) ?? { scorer_id: randomUUID(), experiment_id: experimentId, name, versions: [] };
        scorers.set(key, s);
        const v = { version: (s.versions.at(-1)?.version ?? 0) + 1, serialized, creation_time: Date.now() };
        s.versions.push(v);
        return { version: v.version, scorer_id: s.scorer_id, experiment_id: experimentId, name, serialized_scorer: serialized, creation_time: v.creation_time };
      },
    },
    'scorers/list': {
      methods: ['GET'],
      repeated: ['experiment_ids'],
      run: (p) => {
        const one = str(p, 'experiment_id');
        const several = p.experiment_ids as string[] | undefined;
        if (one !== undefined && several !== undefined) {
          throw invalid(
            "Cannot specify both 'experiment_id' and 'experiment_ids'. Use 'experiment_ids' to scope the query to multiple experiments, or 'experiment_id' to scope it to a single experiment.",
          );
        }
        const wanted = one !== undefined ? [one] : several;
        const items = [...scorers.values()]
          .filter((s) => s.versions.length > 0 && (wanted === undefined || wanted.includes(s.experiment_id)))
          .sort((a, b) => Number(a.experiment_id) - Number(b.experiment_id) || a.name.localeCompare(b.name))
          .map((s) => scorerJson(s, s.versions[s.versions.length - 1], true));
        return listed(items, 'scorers');
      },
    },
    'scorers/versions': {
      methods: ['GET'],
      run: (p) => {
        const s = scorerOf(required(p, 'experiment_id'), required(p, 'name'));
        return listed(
          s.versions.map((v) => scorerJson(s, v, true)),
          'scorers',
        );
      },
    },
    'scorers/get': {
      methods: ['GET'],
      run: (p) => {
        const { s, v } = versionOf(p);
        return { scorer: scorerJson(s, v, false) };
      },
    },
    // Online scoring needs scorers of an AI gateway's models, which the sandbox has none of: no configs.
    'scorers/online-configs': {
      methods: ['GET'],
      repeated: ['scorer_ids'],
      args: true,
      run: (p) => {
        if (!Array.isArray(p.scorer_ids) || p.scorer_ids.length === 0) throw missing('scorer_ids');
        return { configs: [] };
      },
    },
    'scorers/delete': {
      methods: ['DELETE'],
      run: (p) => {
        if (num(p, 'version') === undefined) {
          const s = scorerOf(required(p, 'experiment_id'), required(p, 'name'));
          scorers.delete(`${s.experiment_id}/${s.name}`);
          return {};
        }
        const { s, v } = versionOf(p);
        s.versions = s.versions.filter((x) => x !== v);
        return {};
      },
    },
  };

  const webhookOf = (id: string): Webhook => {
    const w = webhooks.get(id);
    if (!w) throw notFound(`Webhook with ID ${id} not found.`);
    return w;
  };
  const webhookJson = (w: Webhook) => ({
    webhook_id: w.webhook_id,
    name: w.name,
    ...(w.description ? { description: w.description } : {}),
    url: w.url,
    events: w.events,
    status: w.status,
    creation_timestamp: w.creation_timestamp,
    last_updated_timestamp: w.last_updated_timestamp,
  });
  const checkName = (name: string) => {
    if (!WEBHOOK_NAME.test(name)) {
      throw invalid(
        `Webhook name '${name}' is invalid. It must start and end with a letter or digit, be less than 63 characters long, and contain only letters, digits, dots (.), underscores (_), and hyphens (-).`,
      );
    }
    return name;
  };
  const checkUrl = (url: string) => {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase() ?? '';
    if (scheme !== 'http' && scheme !== 'https') throw invalid(`Invalid webhook URL scheme: '${scheme}'. Allowed schemes are: http, https.`);
    return url;
  };
  const eventsOf = (v: unknown): Webhook['events'] => {
    const list = Array.isArray(v) ? (v as Params[]) : [];
    if (list.length === 0) throw invalid(`Webhook events must be a non-empty list of WebhookEvent objects: [].`);
    return list.map((e) => {
      const entity = String(e.entity ?? 'ENTITY_UNSPECIFIED');
      const action = String(e.action ?? 'ACTION_UNSPECIFIED');
      const valid = VALID_ACTIONS[entity] ?? [];
      if (!valid.includes(action)) {
        throw invalid(
          `Invalid action '${action.toLowerCase()}' for entity '${entity.toLowerCase()}'. Valid actions are: [${valid
            .map((a) => `'${a.toLowerCase()}'`)
            .sort()
            .join(', ')}]`,
        );
      }
      return { entity, action };
    });
  };

  const webhookRoutes = {
    list: {
      methods: ['GET', 'POST'],
      run: (p: Params, method: string) => {
        if (method === 'POST') {
          const [rawName, rawUrl] = [required(p, 'name'), required(p, 'url')];
          if (p.events === undefined) throw missing('events');
          const name = checkName(rawName);
          const url = checkUrl(rawUrl);
          const now = Date.now();
          const w: Webhook = {
            webhook_id: randomUUID(),
            name,
            description: str(p, 'description'),
            url,
            events: eventsOf(p.events),
            secret: str(p, 'secret'),
            status: str(p, 'status') ?? 'ACTIVE',
            creation_timestamp: now,
            last_updated_timestamp: now,
          };
          webhooks.set(w.webhook_id, w);
          return { webhook: webhookJson(w) };
        }
        const max = num(p, 'max_results') || 100;
        if (max < 1 || max > 1000) throw invalid('max_results must be between 1 and 1000.');
        const offset = offsetOf(str(p, 'page_token'));
        const all = [...webhooks.values()].sort((a, b) => b.creation_timestamp - a.creation_timestamp);
        const page = all.slice(offset, offset + max).map(webhookJson);
        // MLflow's token: Python's json.dumps of the offset, base64.
        const next = offset + max < all.length ? Buffer.from(pythonJson({ offset: offset + max })).toString('base64') : undefined;
        return { ...listed(page, 'webhooks'), ...(next ? { next_page_token: next } : {}) };
      },
    },
    one: {
      methods: ['GET', 'PATCH', 'DELETE'],
      run: (p: Params, method: string, id: string) => {
        const w = webhookOf(id);
        if (method === 'DELETE') {
          webhooks.delete(id);
          return {};
        }
        if (method === 'PATCH') {
          if (str(p, 'name') !== undefined) w.name = checkName(str(p, 'name')!);
          if (p.description !== undefined) w.description = String(p.description);
          if (str(p, 'url') !== undefined) w.url = checkUrl(str(p, 'url')!);
          if (Array.isArray(p.events) && p.events.length > 0) w.events = eventsOf(p.events);
          if (p.secret !== undefined) w.secret = String(p.secret);
          if (p.status !== undefined) w.status = String(p.status);
          w.last_updated_timestamp = Date.now();
        }
        return { webhook: webhookJson(w) };
      },
    },
    test: {
      methods: ['POST'],
      run: async (p: Params, _method: string, id: string) => {
        const w = webhookOf(id);
        const event = (p.event as { entity?: string; action?: string } | undefined) ?? w.events[0];
        const payload = JSON.stringify({
          entity: String(event.entity).toLowerCase(),
          action: String(event.action).toLowerCase(),
          timestamp: new Date().toISOString(),
          data: {
            name: 'example_model',
            version: '1',
            source: 'models:/123',
            run_id: 'abcd1234abcd5678',
            tags: { example_key: 'example_value' },
            description: 'An example model version',
          },
        });
        const deliveryId = randomUUID();
        const timestamp = String(Math.floor(Date.now() / 1000));
        const headers: Record<string, string> = { 'content-type': 'application/json', 'x-mlflow-delivery-id': deliveryId, 'x-mlflow-timestamp': timestamp };
        if (w.secret) headers['x-mlflow-signature'] = `v1,${createHmac('sha256', w.secret).update(`${deliveryId}.${timestamp}.${payload}`).digest('base64')}`;
        try {
          const res = await fetch(w.url, { method: 'POST', headers, body: payload });
          const body = await res.text();
          return { result: { success: res.status < 400, response_status: res.status, ...(body ? { response_body: body } : {}) } };
        } catch (err) {
          return { result: { success: false, error_message: `Failed to test webhook: ${String(err)}` } };
        }
      },
    },
  };

  return {
    /** A scorer endpoint (`scorers/list`, …) under /api/3.0/mlflow/. */
    scorerRoute(endpoint: string): ScorerRoute | undefined {
      return Object.hasOwn(scorerRoutes, endpoint) ? scorerRoutes[endpoint] : undefined;
    },
    /** A webhook endpoint under /api/2.0/mlflow/, for `method`. */
    webhookRoute(endpoint: string, method: string): { methods: string[]; run(p: Params): unknown } | undefined {
      if (endpoint === 'webhooks') return { methods: webhookRoutes.list.methods, run: (p) => webhookRoutes.list.run(p, method) };
      const m = /^webhooks\/([^/]+)(\/test)?$/.exec(endpoint);
      if (!m) return undefined;
      const id = decodeURIComponent(m[1]);
      const route = m[2] ? webhookRoutes.test : webhookRoutes.one;
      return { methods: route.methods, run: (p) => route.run(p, method, id) };
    },
  };
}
