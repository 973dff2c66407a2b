import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const spec = JSON.parse(readFileSync(join(__dirname, '../../openapi/openapi.json'), 'utf8')) as {
  tags?: { name: string }[];
  paths: Record<string, Record<string, { tags?: string[] }>>;
};
const declared = (spec.tags ?? []).map((t) => t.name);

/** Swagger UI shows its sections in the order of the spec's `tags`: frontend routes first, gateway-only ones last. */
describe('the order of the Swagger UI sections', () => {
  it('opens on what a frontend developer calls, and ends with the gateway-facing ext-authz endpoints', () => {
    expect(declared.slice(0, 3)).toEqual(['auth', 'session', 'trino-query']);
    expect(declared[declared.length - 1]).toBe('ext-authz');
  });

  it('declares every tag an operation uses (an undeclared one would be shown first)', () => {
    const used = new Set(Object.values(spec.paths).flatMap((ops) => Object.values(ops).flatMap((op) => op.tags ?? [])));
    expect([...used].filter((t) => !declared.includes(t))).toEqual([]);
  });
});
