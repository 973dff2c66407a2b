import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

/**
 * Contract checks against the committed OpenAPI document: a response must be declared for its
 * route, status and content type, and a JSON body must match the declared schema. This is what
 * consumers' CI contract tests rely on.
 */
type Spec = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>; components: unknown };

const spec = JSON.parse(readFileSync(join(__dirname, '../../openapi/openapi.json'), 'utf8')) as Spec;
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'spec', components: spec.components });

const templates = Object.keys(spec.paths).map((template) => ({
  template,
  // A trailing {path} is a wildcard route (Fastify `*`): it spans any number of segments.
  re: new RegExp(
    '^' +
      template
        .replace(/[.+?^$()[\]\\]/g, '\\$&')
        .replace(/\/\{path\}$/, '/.*')
        .replace(/\{[^}]+\}/g, '[^/]+') +
      '$',
  ),
  literal: template.replace(/\{[^}]+\}/g, '').length,
}));

function rewriteRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rewriteRefs);
  if (schema && typeof schema === 'object') {
    return Object.fromEntries(
      Object.entries(schema).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `spec${v}` : rewriteRefs(v)]),
    );
  }
  return schema;
}

/** Returns the problems of a response against the spec (empty: it conforms). */
export function contractViolations(method: string, path: string, status: number, contentType: string | null, body: unknown): string[] {
  const p = path.split('?')[0];
  const match = templates.filter((t) => t.re.test(p)).sort((a, b) => b.literal - a.literal)[0];
  if (!match) return [`${method} ${p}: no path in the spec`];
  const op = spec.paths[match.template][method.toLowerCase()];
  if (!op) return [`${method} ${match.template}: method not in the spec`];
  const response = op.responses[String(status)] ?? op.responses.default;
  if (!response) return [`${method} ${match.template}: status ${status} not declared (declared: ${Object.keys(op.responses).join(', ')})`];
  if (!response.content || body === undefined || body === '') return [];
  const type = (contentType ?? '').split(';')[0].trim();
  const media = response.content[type];
  if (!media) return [`${method} ${match.template} ${status}: content type ${type} not declared (${Object.keys(response.content).join(', ')})`];
  if (!media.schema || !type.endsWith('json')) return [];
  const validate = ajv.compile(rewriteRefs(media.schema) as object);
  return validate(body) ? [] : (validate.errors ?? []).map((e) => `${method} ${match.template} ${status}: ${e.instancePath} ${e.message}`);
}

/** fetch() that fails the test when the response does not conform to the committed spec. */
export async function contractFetch(url: string, init: RequestInit = {}): Promise<{ res: Response; body: unknown }> {
  const res = await fetch(url, init);
  const text = await res.text();
  const type = res.headers.get('content-type');
  const body = text && type?.includes('json') ? JSON.parse(text) : text;
  const problems = contractViolations(init.method ?? 'GET', new URL(url).pathname, res.status, type, body);
  if (problems.length) throw new Error(`Response does not conform to openapi/openapi.json:\n  ${problems.join('\n  ')}`);
  return { res, body };
}
