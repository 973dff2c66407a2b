import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { getMetadataStorage } from 'class-validator';
import { EnvSchema } from '../../src/config/env.schema';

/**
 * Shared helpers of the deployment checks (test/deploy): the files under docker/, parsed with real
 * parsers, and the compose file's variables resolved the way `docker compose` resolves them.
 */
export const ROOT = join(__dirname, '../..');
export const DOCKER = join(ROOT, 'docker');

export const dockerPath = (...parts: string[]) => join(DOCKER, ...parts);
export const readDocker = (...parts: string[]) => readFileSync(dockerPath(...parts), 'utf8');

/** Every file under docker/, relative to it, sorted. */
export function dockerFiles(dir = DOCKER): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...dockerFiles(full));
    else out.push(relative(DOCKER, full));
  }
  return out.sort();
}

// ------------------------------------------------------------------------------------------------
// YAML: js-yaml, already in node_modules (a dependency of @nestjs/swagger and of jest's istanbul
// tooling; the hoisted copy may be 3.x or 4.x, whose safe loaders are named differently).
// ------------------------------------------------------------------------------------------------
interface JsYaml {
  load?(text: string, opts?: object): unknown;
  loadAll?(text: string, iterator?: undefined, opts?: object): unknown[];
  safeLoad?(text: string, opts?: object): unknown;
  safeLoadAll?(text: string, iterator?: undefined, opts?: object): unknown[];
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const jsYaml = require('js-yaml') as JsYaml;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const jsYamlMajor = Number((require('js-yaml/package.json') as { version: string }).version.split('.')[0]);

/** Every document of a YAML text (js-yaml's safe schema; duplicate keys are an error). */
export function parseYamlAll(text: string, filename = 'yaml'): unknown[] {
  const loadAll = jsYamlMajor >= 4 ? jsYaml.loadAll : jsYaml.safeLoadAll;
  if (!loadAll) throw new Error(`js-yaml ${jsYamlMajor}.x has no safe multi-document loader`);
  return loadAll.call(jsYaml, text, undefined, { filename }).filter((d) => d !== null && d !== undefined);
}

export function parseYaml(text: string, filename = 'yaml'): unknown {
  const docs = parseYamlAll(text, filename);
  if (docs.length !== 1) throw new Error(`${filename}: expected one YAML document, found ${docs.length}`);
  return docs[0];
}

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const yamlFile = (...parts: string[]) => parseYaml(readDocker(...parts), parts.join('/')) as Json;

// ------------------------------------------------------------------------------------------------
// Java-style .properties (Trino): key=value lines, # comments.
// ------------------------------------------------------------------------------------------------
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('!')) continue;
    const i = line.search(/[=:]/);
    if (i < 0) throw new Error(`not a property line: ${line}`);
    const key = line.slice(0, i).trim();
    if (out.has(key)) throw new Error(`duplicate property ${key}`);
    out.set(key, line.slice(i + 1).trim());
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// docker compose variables: docker/.env.example (with every __generate__ given a random value, as
// the documented one-liner does) and compose's interpolation syntax.
// ------------------------------------------------------------------------------------------------
export const GENERATE = '__generate__';

/** docker/.env.example as `docker compose` would read docker/.env made from it. */
export function envExample(): { vars: Map<string, string>; generated: Set<string>; order: string[] } {
  const vars = new Map<string, string>();
  const generated = new Set<string>();
  const order: string[] = [];
  for (const raw of readDocker('.env.example').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`docker/.env.example: not a VAR=value line: ${line}`);
    if (vars.has(m[1])) throw new Error(`docker/.env.example: ${m[1]} twice`);
    order.push(m[1]);
    if (m[2] === GENERATE) {
      generated.add(m[1]);
      vars.set(m[1], randomBytes(24).toString('hex'));
    } else vars.set(m[1], m[2]);
  }
  return { vars, generated, order };
}

export interface InterpolationUse {
  name: string;
  /** ':?' / '?' (required), ':-' / '-' (default), or '' (plain). */
  op: string;
  arg: string;
}

const VARIABLE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** The variables a compose string uses (`$$` is a literal dollar, not a variable). */
export function variablesIn(value: string): InterpolationUse[] {
  const out: InterpolationUse[] = [];
  for (const m of value.matchAll(VARIABLE)) {
    if (m[0] === '$$') continue;
    out.push({ name: m[1] ?? m[4], op: m[2] ?? '', arg: m[3] ?? '' });
  }
  return out;
}

/** Compose interpolation of one string: ${V}, ${V:-d}, ${V-d}, ${V:?e}, ${V?e}, ${V:+a}, $V, $$. */
export function interpolate(value: string, vars: ReadonlyMap<string, string>, where: string): string {
  return value.replace(VARIABLE, (all, braced: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
    if (all === '$$') return '$';
    const name = (braced ?? bare)!;
    const set = vars.has(name);
    const v = vars.get(name) ?? '';
    switch (op) {
      case ':-':
        return set && v !== '' ? v : arg!;
      case '-':
        return set ? v : arg!;
      case ':?':
        if (!set || v === '') throw new Error(`${where}: required variable ${name} is missing (${arg})`);
        return v;
      case '?':
        if (!set) throw new Error(`${where}: required variable ${name} is missing (${arg})`);
        return v;
      case ':+':
        return set && v !== '' ? arg! : '';
      case '+':
        return set ? arg! : '';
      default:
        return v;
    }
  });
}

/** Interpolates every string of a parsed compose document (keys stay as written). */
export function interpolateDeep<T>(node: T, vars: ReadonlyMap<string, string>, where = 'compose.yaml'): T {
  if (typeof node === 'string') return interpolate(node, vars, where) as T;
  if (Array.isArray(node)) return node.map((n, i) => interpolateDeep(n, vars, `${where}[${i}]`)) as T;
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateDeep(v, vars, `${where}.${k}`)])) as T;
  }
  return node;
}

/** Every string of a parsed document, with its location. */
export function stringsOf(node: unknown, where = ''): Array<{ where: string; value: string }> {
  if (typeof node === 'string') return [{ where, value: node }];
  if (Array.isArray(node)) return node.flatMap((n, i) => stringsOf(n, `${where}[${i}]`));
  if (node && typeof node === 'object') return Object.entries(node).flatMap(([k, v]) => stringsOf(v, where ? `${where}.${k}` : k));
  return [];
}

/** A service's environment as a map (compose allows a map or a list of KEY=value). */
export function environmentOf(service: Json): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((e: string) => {
        const i = e.indexOf('=');
        return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env as Record<string, unknown>).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

export function composeRaw(): Json {
  return yamlFile('compose.yaml');
}

/** compose.yaml with its variables resolved from docker/.env.example. */
export function composeResolved(vars = envExample().vars): Json {
  return interpolateDeep(composeRaw(), vars);
}

// ------------------------------------------------------------------------------------------------
// The BFF's configuration schema: the keys EnvSchema validates (class-validator's metadata, the
// same the app uses at boot).
// ------------------------------------------------------------------------------------------------
export function schemaKeys(): string[] {
  const metas = getMetadataStorage().getTargetValidationMetadatas(EnvSchema, '', true, false);
  return [...new Set(metas.map((m) => m.propertyName))].sort();
}

/** Node.js's own environment variables a deployment may set next to the BFF's keys. */
export const NODE_RUNTIME_KEYS = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'] as const;

export const hostOf = (url: string) => new URL(url).hostname;
export const portOf = (url: string) => {
  const u = new URL(url);
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
};

export const fileExists = (p: string) => existsSync(p);

/** docker/trino's JWT principal field: what a Trino emulator standing in for it must use (Trino's own default is `sub`). */
export function shippedTrinoPrincipalField(): string {
  return parseProperties(readDocker('trino', 'config.properties')).get('http-server.authentication.jwt.principal-field') ?? 'sub';
}
