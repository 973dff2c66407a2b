import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerPath, readDocker } from './deploy-files';

/**
 * docker/k8s against the Kubernetes schemas, with a real validator: kubeconform (built from its Go module)
 * and the schemas of the API itself — Kubernetes 1.34's OpenAPI document, the Gateway API's and Envoy
 * Gateway's CRDs — fetched and converted by scripts/fetch-kubeconform.sh (cached outside the repository;
 * a missing install fails here, it is not skipped). Strict: a field the API does not know is an error.
 */

const ROOT = join(__dirname, '..', '..');
let kubeconform = '';
let schemas = '';

interface Report {
  resources: Array<{ filename: string; kind: string; name: string; status: string; msg: string }>;
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

function validate(files: string[]): { status: number | null; report: Report } {
  const r = spawnSync(
    kubeconform,
    [
      '-strict',
      '-summary',
      '-verbose',
      '-output',
      'json',
      '-schema-location',
      `${schemas}/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`,
      // kustomization.yaml is kustomize's own file, not an object of the API.
      '-skip',
      'Kustomization',
      ...files,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  return { status: r.status, report: JSON.parse(r.stdout) as Report };
}

beforeAll(() => {
  const out = execFileSync('bash', [join(ROOT, 'scripts', 'fetch-kubeconform.sh')], { encoding: 'utf8', timeout: 1_800_000 });
  kubeconform = /^KUBECONFORM=(.+)$/m.exec(out)![1];
  schemas = /^K8S_SCHEMAS=(.+)$/m.exec(out)![1];
}, 1_800_000);

describe('docker/k8s validates against the Kubernetes, Gateway API and Envoy Gateway schemas (kubeconform, strict)', () => {
  it('every object of every manifest is valid; only kustomization.yaml is skipped', () => {
    const files = readdirSync(dockerPath('k8s'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => dockerPath('k8s', f));
    const { status, report } = validate(files);
    const notValid = report.resources.filter((r) => r.status !== 'statusValid' && r.status !== 'statusSkipped');
    expect(notValid).toEqual([]);
    expect(report.resources.filter((r) => r.status === 'statusSkipped').map((r) => r.kind)).toEqual(['Kustomization']);
    // What the deployment is made of, each checked against its own schema (none missing).
    expect(
      report.resources
        .filter((r) => r.status === 'statusValid')
        .map((r) => r.kind)
        .sort(),
    ).toEqual([
      'ConfigMap',
      'Deployment',
      'Gateway',
      'HTTPRoute',
      'HTTPRoute',
      'HTTPRoute',
      'HorizontalPodAutoscaler',
      'Namespace',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'SecurityPolicy',
      'Service',
      'Service',
      'StatefulSet',
    ]);
    expect(status).toBe(0);
  });

  it('a misspelt field, a wrong type and an unknown CRD field are each reported invalid (the check has teeth)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-k8s-'));
    try {
      const broken = (name: string, from: string, edit: (text: string) => string) => {
        const text = readDocker('k8s', from);
        const changed = edit(text);
        expect([name, changed === text]).toEqual([name, false]);
        writeFileSync(join(dir, name), changed);
        return join(dir, name);
      };
      copyFileSync(dockerPath('k8s', 'namespace.yaml'), join(dir, 'namespace.yaml'));
      const files = [
        join(dir, 'namespace.yaml'),
        broken('deployment-misspelt.yaml', 'bff-deployment.yaml', (t) => t.replace(/^(\s+)replicas:/m, '$1replica:')),
        broken('pdb-wrong-type.yaml', 'bff-pdb.yaml', (t) => t.replace(/^(\s+)(minAvailable|maxUnavailable): .*$/m, '$1$2: [1]')),
        broken('securitypolicy-unknown.yaml', 'envoy-gateway.yaml', (t) => t.replace(/^(\s+)extAuth:/m, '$1extAuthentication:')),
      ];
      const { status, report } = validate(files);
      const byFile = Object.fromEntries(report.resources.filter((r) => r.status === 'statusInvalid').map((r) => [r.filename.split('/').pop(), r.kind]));
      expect(byFile).toEqual({
        'deployment-misspelt.yaml': 'Deployment',
        'pdb-wrong-type.yaml': 'PodDisruptionBudget',
        'securitypolicy-unknown.yaml': 'SecurityPolicy',
      });
      expect(report.resources.find((r) => r.filename.endsWith('namespace.yaml'))?.status).toBe('statusValid');
      expect(status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
