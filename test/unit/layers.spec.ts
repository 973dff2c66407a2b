import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { crossModuleImports, layerViolations, LAYERS } from '../support/import-layers';

const SRC = join(__dirname, '../../src');

describe('dependencies run one way (feature modules → auth/state/common → config)', () => {
  it('no module imports from a layer above its own, from another module of its layer, or into internals', () => {
    expect(layerViolations(SRC)).toEqual([]);
  });

  it('every module of src/ has its layer', () => {
    const modules = new Set(crossModuleImports(SRC).flatMap((e) => [e.from, e.to]));
    expect([...modules].filter((m) => !LAYERS.flat().includes(m))).toEqual([]);
  });
});

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

describe('files stay small', () => {
  it('no file of src/ is over 400 lines unless it says why (a `// Longer than 400 lines: <reason>` line)', () => {
    const long = sources(SRC)
      .map((f) => ({ f: `src/${relative(SRC, f)}`, text: readFileSync(f, 'utf8') }))
      .filter(({ text }) => text.split('\n').length > 400 && !/^\s*\/\/ Longer than 400 lines: \S/m.test(text))
      .map(({ f }) => f);
    expect(long).toEqual([]);
  });
});

describe('the layer checker', () => {
  it('sees an import going up and one between two feature modules', () => {
    const fixture = join(__dirname, '../support/layers-fixture/src');
    expect(layerViolations(fixture)).toEqual(
      [
        'src/common/up.ts → src/auth/thing (common → auth)',
        'src/mlflow/side.ts → src/trino-query/thing (mlflow → trino-query)',
        'src/mlflow/side.ts → src/session/session-cookie (mlflow → session, internal)',
      ].sort(),
    );
  });
});
