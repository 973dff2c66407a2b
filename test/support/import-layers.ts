import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The layers of src/, lowest first: a module may import from its own folder and from the layers below
 * its own, never from a layer above nor from another module of its own layer. The files directly in
 * src/ (the app's assembly) form the top layer.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['config'],
  ['common'],
  ['state', 'audit'],
  ['auth'],
  // Services every feature uses on top of the caller's identity.
  ['session', 'token-exchange', 'hardening'],
  // Feature modules.
  ['agent-service', 'ml-agent', 'mlflow', 'ops', 'trino-gateway-admin', 'trino-query'],
  ['(app)'],
];

/**
 * Modules whose other files are their own business: another module may import only the files named
 * here (the browser session is used through SessionService; its cookie and origin helpers are internal).
 */
export const PUBLIC_SURFACE: Readonly<Record<string, readonly string[]>> = {
  session: ['session/session.module', 'session/session.service'],
};

export interface ImportEdge {
  file: string;
  target: string;
  from: string;
  to: string;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s(?:[^;'"]*?\sfrom\s)?\s*'([^']+)'/g;

function moduleOf(srcPath: string): string {
  const parts = srcPath.split('/');
  return parts.length === 1 ? '(app)' : parts[0];
}

function layerOf(module: string): number {
  const i = LAYERS.findIndex((layer) => layer.includes(module));
  if (i < 0) throw new Error(`src/${module} is in no layer: add it to LAYERS`);
  return i;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every relative import between two modules of src/ (specs left out: a test may reach anywhere). */
export function crossModuleImports(srcDir: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const abs of sourceFiles(srcDir)) {
    const file = relative(srcDir, abs);
    for (const m of readFileSync(abs, 'utf8').matchAll(IMPORT)) {
      if (!m[1].startsWith('.')) continue;
      const target = relative(srcDir, resolve(dirname(abs), m[1]));
      const from = moduleOf(file);
      const to = moduleOf(target);
      if (from !== to) edges.push({ file: `src/${file}`, target: `src/${target}`, from, to });
    }
  }
  return edges;
}

const internal = (e: ImportEdge) => {
  const surface = PUBLIC_SURFACE[e.to];
  return surface !== undefined && !surface.includes(e.target.replace(/^src\//, ''));
};

/** The imports against the layer order or into another module's internals, as `src/file → src/target (from → to)`. */
export function layerViolations(srcDir: string): string[] {
  return crossModuleImports(srcDir)
    .filter((e) => layerOf(e.to) >= layerOf(e.from) || internal(e))
    .map((e) => `${e.file} → ${e.target} (${e.from} → ${e.to}${internal(e) ? ', internal' : ''})`)
    .sort();
}
