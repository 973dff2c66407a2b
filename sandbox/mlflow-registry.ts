/**
 * MLflow's model registry, the part the BFF's grant API and the sandbox demo use: registered models
 * created, got, searched (by `name = '…'` or `name LIKE '…'`), renamed and deleted, as the real
 * tracking server answers them (shapes and errors checked against MLflow 3.17). Versions are not
 * emulated: the real MLflow tier tests them (test/mlflow-real/registry.spec.ts).
 */
import { invalid, likeToRegex, MlflowError, paginate, required, str, tagsOf, type MlflowTag, type Params } from './mlflow-messages';

interface RegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description?: string;
  tags: MlflowTag[];
}

export interface RegistryRoute {
  methods: string[];
  run(p: Params): unknown;
}

export function registry() {
  const models = new Map<string, RegisteredModel>();
  const byName = (name: string): RegisteredModel => {
    const m = models.get(name);
    if (!m) throw new MlflowError(404, 'RESOURCE_DOES_NOT_EXIST', `Registered Model with name=${name} not found`);
    return m;
  };
  const json = (m: RegisteredModel) => ({
    name: m.name,
    creation_timestamp: m.creation_timestamp,
    last_updated_timestamp: m.last_updated_timestamp,
    ...(m.description ? { description: m.description } : {}),
    ...(m.tags.length > 0 ? { tags: m.tags } : {}),
  });
  const validName = (name: string): string => {
    if (/[/:]/.test(name)) throw invalid(`Invalid model name '${name}'. Names cannot contain '/' or ':'.`);
    return name;
  };
  const filterOf = (filter: string | undefined): ((m: RegisteredModel) => boolean) => {
    if (!filter) return () => true;
    const x = /^\s*name\s*(=|LIKE|ILIKE)\s*'((?:[^']|'')*)'\s*$/i.exec(filter);
    if (!x) throw invalid(`Invalid filter '${filter}'. Could not be parsed.`);
    const value = x[2].replace(/''/g, "'");
    if (x[1] === '=') return (m) => m.name === value;
    const re = likeToRegex(value, x[1].toUpperCase() === 'ILIKE' ? 'i' : '');
    return (m) => re.test(m.name);
  };

  const routes: Record<string, RegistryRoute> = {
    'registered-models/create': {
      methods: ['POST'],
      run: (p) => {
        const name = validName(required(p, 'name'));
        if (models.has(name)) throw new MlflowError(400, 'RESOURCE_ALREADY_EXISTS', `Registered Model (name=${name}) already exists.`);
        const now = Date.now();
        const m: RegisteredModel = { name, creation_timestamp: now, last_updated_timestamp: now, description: str(p, 'description'), tags: tagsOf(p.tags, 'tags') };
        models.set(name, m);
        return { registered_model: json(m) };
      },
    },
    'registered-models/get': { methods: ['GET'], run: (p) => ({ registered_model: json(byName(required(p, 'name'))) }) },
    'registered-models/search': {
      methods: ['GET'],
      run: (p) => {
        const keep = filterOf(str(p, 'filter'));
        const all = [...models.values()].filter(keep).sort((a, b) => a.name.localeCompare(b.name));
        const { page, next } = paginate(all, p, 100);
        return { ...(page.length > 0 ? { registered_models: page.map(json) } : {}), ...(next ? { next_page_token: next } : {}) };
      },
    },
    'registered-models/rename': {
      methods: ['POST'],
      run: (p) => {
        const m = byName(required(p, 'name'));
        const to = validName(required(p, 'new_name'));
        if (models.has(to)) throw new MlflowError(400, 'RESOURCE_ALREADY_EXISTS', `Registered Model (name=${to}) already exists.`);
        models.delete(m.name);
        m.name = to;
        m.last_updated_timestamp = Date.now();
        models.set(to, m);
        return { registered_model: json(m) };
      },
    },
    'registered-models/delete': {
      methods: ['DELETE'],
      run: (p) => {
        models.delete(byName(required(p, 'name')).name);
        return {};
      },
    },
  };
  return { route: (endpoint: string): RegistryRoute | undefined => routes[endpoint] };
}
