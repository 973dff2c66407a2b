import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateOpenApiJson } from '../../scripts/openapi-spec';

describe('openapi/openapi.json', () => {
  it('is exactly what the code generates (run `npm run openapi` and commit)', async () => {
    const committed = readFileSync(join(__dirname, '../../openapi/openapi.json'), 'utf8');
    expect(await generateOpenApiJson()).toBe(committed);
  });

  it('documents auth and problem responses on every operation', () => {
    const spec = JSON.parse(readFileSync(join(__dirname, '../../openapi/openapi.json'), 'utf8')) as {
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, { content?: Record<string, unknown> }> }>>;
    };
    // Public by design: probes, Trino's own public /v1/info, the browser login flow, the realm's back-channel logout (its
    // logout token is the credential), the MLflow UI entry redirect and a query's Trino UI page redirect (infoUri).
    const publicPaths = [
      '/health/live',
      '/health/ready',
      '/metrics',
      '/v1/info',
      '/auth/login',
      '/auth/callback',
      '/auth/logout',
      '/auth/backchannel-logout',
      '/mlflow',
      '/ui/query.html',
    ];
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`;
        if (publicPaths.includes(path)) continue;
        expect([where, op.security?.length ?? 0]).not.toEqual([where, 0]);
        expect([where, Object.keys(op.responses)]).toEqual([where, expect.arrayContaining(['401'])]);
        expect([where, op.responses['401'].content]).toEqual([where, expect.objectContaining({ 'application/problem+json': expect.anything() })]);
      }
    }
  });
});
