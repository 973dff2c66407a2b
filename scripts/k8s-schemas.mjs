// One JSON schema per Kubernetes kind, for kubeconform, from the API's own OpenAPI documents: the core API's
// swagger.json (k8s.io/kubernetes) and CustomResourceDefinitions (their openAPIV3Schema). Written as
// <out>/<group>/<kind>_<version>.json (group `v1` for the core API), the layout kubeconform's
// `-schema-location '<out>/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'` reads.
// Strict, as kubeconform's own schema sets are: an object that lists its properties refuses others.
//
//   node scripts/k8s-schemas.mjs <out> --swagger <swagger.json> [--crds <dir or file>]...
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import yaml from 'js-yaml';

const [out, ...rest] = process.argv.slice(2);
const swaggers = [];
const crdPaths = [];
for (let i = 0; i < rest.length; i += 2) (rest[i] === '--swagger' ? swaggers : crdPaths).push(rest[i + 1]);
if (!out || swaggers.length + crdPaths.length === 0) throw new Error('usage: k8s-schemas.mjs <out> --swagger <file> [--crds <dir|file>]...');

/** Kubernetes' extensions as JSON Schema: int-or-string, nullable, preserve-unknown-fields; strict objects. */
function convert(s) {
  if (Array.isArray(s)) return s.map(convert);
  if (!s || typeof s !== 'object') return s;
  const o = {};
  for (const [k, v] of Object.entries(s)) o[k] = ['properties', 'definitions', 'patternProperties'].includes(k) ? mapValues(v, convert) : convert(v);
  if (o.format === 'int-or-string' || o['x-kubernetes-int-or-string']) {
    delete o.type;
    delete o.format;
    o.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  if (o.nullable === true && typeof o.type === 'string') o.type = [o.type, 'null'];
  if (o.properties && o.additionalProperties === undefined && !o['x-kubernetes-preserve-unknown-fields']) o.additionalProperties = false;
  return o;
}
const mapValues = (obj, f) => Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, f(v)]));

function write(group, kind, version, schema) {
  const dir = join(out, group || 'v1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${kind.toLowerCase()}_${version}.json`), JSON.stringify(schema));
}

let count = 0;
for (const file of swaggers) {
  const { definitions } = JSON.parse(readFileSync(file, 'utf8'));
  const all = mapValues(definitions, convert);
  // Each kind's file carries the definitions it reaches, so that its $refs (#/definitions/...) resolve.
  const reach = (name, seen) => {
    if (seen.has(name)) return;
    seen.add(name);
    JSON.stringify(all[name]).replace(/"#\/definitions\/([^"]+)"/g, (_, ref) => reach(ref, seen));
  };
  for (const [name, def] of Object.entries(definitions)) {
    for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
      const seen = new Set();
      reach(name, seen);
      write(gvk.group, gvk.kind, gvk.version, { ...all[name], definitions: Object.fromEntries([...seen].map((n) => [n, all[n]])) });
      count++;
    }
  }
}
const files = (p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => join(p, f))
    : [p];
for (const file of crdPaths.flatMap(files)) {
  for (const doc of yaml.loadAll(readFileSync(file, 'utf8'))) {
    if (doc?.kind !== 'CustomResourceDefinition') continue;
    for (const v of doc.spec.versions) {
      const schema = convert(v.schema.openAPIV3Schema);
      // A CRD's schema leaves apiVersion, kind and metadata loose; the API server checks them as for any object.
      write(doc.spec.group, doc.spec.names.kind, v.name, schema);
      count++;
    }
  }
}
process.stdout.write(`[k8s-schemas] ${count} schemas in ${out}\n`);
