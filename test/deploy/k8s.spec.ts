import { readdirSync } from 'node:fs';
import { SECRET_KEYS } from '../../src/config/env.schema';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { startTestBff, type TestBff } from '../support/app';
import { dockerPath, type Json, NODE_RUNTIME_KEYS, parseYamlAll, readDocker, schemaKeys } from './deploy-files';

/**
 * docker/k8s: N replicas of the BFF with Valkey (issue 10 item 4). No cluster runs here, so the
 * manifests are parsed and checked for what makes N replicas safe (probes, PDB, HPA, Service,
 * secrets by reference, shutdown), their configuration is run through loadConfig(), and the Envoy
 * Gateway SecurityPolicy's extAuth contract is exercised against the real BFF.
 */

const files = readdirSync(dockerPath('k8s'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const docs = files.flatMap((f) => (parseYamlAll(readDocker('k8s', f), `k8s/${f}`) as Json[]).map((doc) => ({ file: f, doc })));
const find = (kind: string, name?: string): Json => {
  const found = docs.filter(({ doc }) => doc.kind === kind && (name === undefined || doc.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0].doc;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

const deployment = find('Deployment', 'platform-bff');
const pod = deployment.spec.template;
const container = (pod.spec.containers as Json[]).find((c) => c.name === 'bff')!;
const configMap = find('ConfigMap', 'platform-bff');

describe('docker/k8s manifests', () => {
  it('every file parses, every object has apiVersion, kind and a name, and kustomization lists every file', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const { file, doc } of docs) {
      expect([file, typeof doc.apiVersion, typeof doc.kind]).toEqual([file, 'string', 'string']);
      if (doc.kind !== 'Kustomization') expect([file, typeof doc.metadata?.name]).toEqual([file, 'string']);
    }
    const kustomization = find('Kustomization');
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml'));
  });

  it('no Secret values anywhere: no Secret object, no inline value for a secret key', () => {
    expect(docs.filter(({ doc }) => doc.kind === 'Secret')).toEqual([]);
    for (const key of SECRET_KEYS) expect(configMap.data[key]).toBeUndefined();
    for (const e of container.env as Json[]) {
      if ((SECRET_KEYS as readonly string[]).includes(e.name)) {
        expect([e.name, e.value]).toEqual([e.name, undefined]);
        expect(e.valueFrom.secretKeyRef).toEqual(expect.objectContaining({ name: expect.any(String), key: expect.any(String) }));
      }
    }
    const valkey = find('StatefulSet', 'valkey').spec.template.spec.containers[0];
    for (const e of valkey.env as Json[]) expect(e.valueFrom.secretKeyRef).toBeDefined();
  });

  it('the BFF configuration (ConfigMap + referenced secrets) is a valid production configuration with no unknown key', () => {
    const keys = schemaKeys();
    const env: Record<string, string> = { ...configMap.data };
    for (const e of container.env as Json[]) {
      env[e.name] = e.name === 'VALKEY_URL' ? 'redis://:secret@valkey:6379' : 'x'.repeat(48);
    }
    const unknown = Object.keys(env).filter((k) => !keys.includes(k) && !(NODE_RUNTIME_KEYS as readonly string[]).includes(k));
    expect(unknown).toEqual([]);
    try {
      const config = loadConfig(env);
      expect(config.env).toBe('production');
      expect(config.valkeyUrl).toBeDefined();
      expect(config.port).toBe(container.ports[0].containerPort);
    } catch (err) {
      throw new Error(err instanceof ConfigError ? err.message : String(err));
    }
    // Valkey's service is what VALKEY_URL must name; its password Secret feeds requirepass.
    expect(find('Service', 'valkey').spec.ports[0].port).toBe(6379);
  });

  it('Deployment: N replicas, rolling without losing capacity, readiness /health/ready, liveness /health/live', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    expect(matches(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.startupProbe.httpGet.path).toBe('/health/live');
    expect(container.ports).toEqual([{ name: 'http', containerPort: Number(configMap.data.PORT), protocol: 'TCP' }]);
  });

  it('Deployment: stops gracefully (preStop, then SIGTERM drains within terminationGracePeriodSeconds)', () => {
    const sleep = container.lifecycle.preStop.exec.command as string[];
    expect(sleep[0]).toBe('sleep');
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(Number(sleep[1]) + 15);
  });

  it('Deployment: non-root (uid of the image), read-only root filesystem, no privilege escalation', () => {
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    expect(String(pod.spec.securityContext.runAsUser)).toBe(/^USER (\d+)/m.exec(readDocker('Dockerfile'))![1]);
    expect(container.securityContext).toEqual(
      expect.objectContaining({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } }),
    );
    expect(container.resources.requests.cpu).toBeDefined();
  });

  it('PodDisruptionBudget, HorizontalPodAutoscaler and Service select the BFF pods', () => {
    const pdb = find('PodDisruptionBudget', 'platform-bff');
    expect(matches(pdb.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(pdb.spec.maxUnavailable ?? 0).toBeLessThan(deployment.spec.replicas);
    const hpa = find('HorizontalPodAutoscaler', 'platform-bff');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'platform-bff' });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    const svc = find('Service', 'platform-bff');
    expect(matches(svc.spec.selector, pod.metadata.labels)).toBe(true);
    expect(svc.spec.ports[0].targetPort).toBe('http');
  });

  it('Valkey: persistent, password from a Secret, reachable only from the BFF pods', () => {
    const sts = find('StatefulSet', 'valkey');
    const args = sts.spec.template.spec.containers[0].args as string[];
    expect(args).toEqual(expect.arrayContaining(['--requirepass', '$(VALKEY_PASSWORD)', '--appendonly', 'yes']));
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeDefined();
    const np = find('NetworkPolicy', 'valkey-from-bff-only');
    expect(matches(np.spec.podSelector.matchLabels, sts.spec.template.metadata.labels)).toBe(true);
    expect(matches(np.spec.ingress[0].from[0].podSelector.matchLabels, pod.metadata.labels)).toBe(true);
  });
});

describe('docker/k8s/envoy-gateway.yaml: the SecurityPolicy for the agent routes', () => {
  const policy = find('SecurityPolicy', 'platform-bff-agents-ext-auth');
  const extAuth = policy.spec.extAuth as Json;
  const svc = find('Service', 'platform-bff');

  it('gateway.envoyproxy.io/v1alpha1, targeting the agents HTTPRoute, extAuth over HTTP to the BFF /api/auth, failing closed', () => {
    expect(policy.apiVersion).toBe('gateway.envoyproxy.io/v1alpha1');
    expect(policy.spec.targetRefs).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'platform-bff-agents' }]);
    const route = find('HTTPRoute', 'platform-bff-agents');
    expect(route.spec.rules[0].matches).toEqual([{ path: { type: 'Exact', value: '/api/agents' } }, { path: { type: 'PathPrefix', value: '/api/agents/' } }]);
    expect(extAuth.http.path).toBe('/api/auth');
    expect(extAuth.http.backendRefs).toEqual([{ name: svc.metadata.name, port: svc.spec.ports[0].port }]);
    expect(extAuth.http.headersToBackend).toEqual(['x-user-id', 'x-user-name', 'x-user-email']);
    expect(extAuth.failOpen).toBe(false);
  });

  it('ticket upgrades bypass extAuth only towards the BFF, with client x-user-* removed', () => {
    const tickets = find('HTTPRoute', 'platform-bff-agent-tickets');
    const rule = tickets.spec.rules[0];
    expect(rule.backendRefs).toEqual([{ name: 'platform-bff', port: 80 }]);
    expect(rule.filters[0].requestHeaderModifier.remove).toEqual(['x-user-id', 'x-user-name', 'x-user-email']);
    expect(rule.matches[0].queryParams[0].name).toBe('ticket');
    expect(
      docs
        .filter(({ doc }) => doc.kind === 'SecurityPolicy')
        .map(({ doc }) => doc.spec.targetRefs.map((t: Json) => t.name))
        .flat(),
    ).not.toContain('platform-bff-agent-tickets');
  });

  describe('the check requests it makes, answered by the real BFF', () => {
    let bff: TestBff;
    beforeAll(async () => {
      bff = await startTestBff();
    });
    afterAll(async () => {
      await bff?.close();
    });

    /** Envoy Gateway's extAuth: same method, `path` + the original path and query, headersToExtAuth. */
    async function check(method: string, path: string, headers: Record<string, string>) {
      const sent: Record<string, string> = {};
      for (const [k, v] of Object.entries(headers)) if ((extAuth.headersToExtAuth as string[]).includes(k) || k === 'authorization') sent[k] = v;
      const res = await fetch(`${bff.url}${extAuth.http.path}${path}`, { method, headers: sent });
      await res.arrayBuffer();
      return res;
    }

    it('REGULAR on /api/agents/**: 200 with every header of headersToBackend', async () => {
      const res = await check('POST', '/api/agents', { authorization: `Bearer ${await bff.token('alice')}` });
      expect(res.status).toBe(200);
      for (const h of extAuth.http.headersToBackend as string[]) expect(res.headers.get(h)).toBeTruthy();
      expect(res.headers.get('x-user-name')).toBe('alice');
    });

    it('the WebSocket upgrade with ?access-token=: allowed before the 101', async () => {
      const res = await check('GET', `/api/agents/5b0c7e2a-1d3f-4a6b-9c8d-7e6f5a4b3c2d/react?access-token=${await bff.token('admin')}`, {});
      expect(res.status).toBe(200);
      expect(res.headers.get('x-user-name')).toBe('admin');
    });

    it('no token 401, no REGULAR/ADMIN 403 (the route policy of /api/agents/**)', async () => {
      expect((await check('GET', '/api/agents', {})).status).toBe(401);
      expect((await check('GET', '/api/agents/42', { authorization: `Bearer ${await bff.token('viewer')}` })).status).toBe(403);
    });
  });
});
