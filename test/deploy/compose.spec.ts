import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { builtinModules } from 'node:module';
import { SECRET_KEYS } from '../../src/config/env.schema';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import {
  composeRaw,
  composeResolved,
  DOCKER,
  dockerFiles,
  dockerPath,
  envExample,
  environmentOf,
  fileExists,
  GENERATE,
  hostOf,
  type Json,
  NODE_RUNTIME_KEYS,
  parseProperties,
  parseYamlAll,
  portOf,
  readDocker,
  ROOT,
  schemaKeys,
  stringsOf,
  variablesIn,
  yamlFile,
} from './deploy-files';
import { GATEWAY_VERSION, KEYCLOAK_VERSION } from '../support/platform/versions';

/**
 * docker/compose.yaml, docker/.env.example, docker/Dockerfile, docker/init/init.sh and the Trino /
 * Trino Gateway configs: parsed with real parsers and checked against what the BFF's configuration
 * schema and the other components expect. What needs a Docker engine (pulling the images, running
 * the containers) is not done here: see docs/deployment.md, "What the CI checks".
 */

const COMPOSE_SERVICE_KEYS = new Set([
  'image',
  'build',
  'command',
  'entrypoint',
  'environment',
  'env_file',
  'volumes',
  'ports',
  'expose',
  'depends_on',
  'healthcheck',
  'networks',
  'network_mode',
  'restart',
  'init',
  'stop_grace_period',
  'stop_signal',
  'user',
  'working_dir',
  'labels',
  'deploy',
  'secrets',
  'configs',
  'ulimits',
  'tmpfs',
  'read_only',
  'cap_drop',
  'cap_add',
  'security_opt',
  'profiles',
]);

describe('every YAML and JSON file under docker/ parses', () => {
  const files = dockerFiles();
  const yamlFiles = files.filter((f) => /\.ya?ml$/.test(f));
  const jsonFiles = files.filter((f) => f.endsWith('.json'));

  it('there are files of both kinds (compose, envoy, gateway, k8s; realm, Trino rules)', () => {
    expect(yamlFiles).toEqual(expect.arrayContaining(['compose.yaml', 'envoy/envoy.yaml', 'trino-gateway/config.yaml', 'k8s/bff-deployment.yaml']));
    expect(jsonFiles).toEqual(expect.arrayContaining(['keycloak/realm.json', 'trino/rules.json']));
  });

  it.each(yamlFiles)('%s is valid YAML (js-yaml, safe schema, no duplicate keys)', (file) => {
    const docs = parseYamlAll(readDocker(file), file);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) expect(typeof doc).toBe('object');
  });

  it.each(jsonFiles)('%s is valid JSON', (file) => {
    expect(() => JSON.parse(readDocker(file))).not.toThrow();
  });
});

describe('docker/compose.yaml', () => {
  const raw = composeRaw();
  const example = envExample();
  const compose = composeResolved(example.vars);
  const services = compose.services as Record<string, Json>;

  it('uses only known top-level and service keys (a typo would be ignored or refused by compose)', () => {
    for (const key of Object.keys(raw)) expect(['name', 'services', 'networks', 'volumes', 'configs', 'secrets'].includes(key) || key.startsWith('x-')).toBe(true);
    for (const [name, service] of Object.entries(services)) {
      for (const key of Object.keys(service)) {
        if (!COMPOSE_SERVICE_KEYS.has(key)) throw new Error(`service ${name}: unknown key ${key}`);
      }
      expect(service.image ?? service.build).toBeDefined();
    }
  });

  it('runs the platform of the docs: Keycloak, Valkey, Trino, Trino Gateway, Envoy, nginx, MLflow and the BFF', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['keycloak', 'valkey', 'trino', 'trino-gateway', 'envoy', 'nginx', 'mlflow', 'bff']));
    expect(services.bff.build).toEqual({ context: '..', dockerfile: 'docker/Dockerfile' });
    expect(services.keycloak.command).toEqual(expect.arrayContaining(['--import-realm']));
    expect(services.keycloak.volumes).toContain('./keycloak/realm.json:/opt/keycloak/data/import/realm.json:ro');
    expect(services.nginx.volumes).toContain('./nginx/nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(services.envoy.volumes).toContain('./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro');
  });

  it('mounts the gateway config where trinodb/trino-gateway reads it (/etc/trino-gateway/config.yaml), or the gateway exits at start', () => {
    expect(services['trino-gateway'].volumes).toContain('./trino-gateway/config.yaml:/etc/trino-gateway/config.yaml:ro');
  });

  it('pins the Keycloak release the real-platform tier runs (test/platform)', () => {
    expect(services.keycloak.image).toBe(`quay.io/keycloak/keycloak:${KEYCLOAK_VERSION}`);
  });

  it('pins the Trino Gateway release the real-platform tier runs (gateway-ha of test/platform/trino-gateway.spec.ts)', () => {
    expect(services['trino-gateway'].image).toBe(`trinodb/trino-gateway:${GATEWAY_VERSION}`);
  });

  it('every variable it uses is in docker/.env.example, every required one is generated or set there, and none is unused', () => {
    const used = new Map<string, Set<string>>();
    for (const { value } of stringsOf(raw)) {
      for (const v of variablesIn(value)) {
        if (!used.has(v.name)) used.set(v.name, new Set());
        used.get(v.name)!.add(v.op);
      }
    }
    for (const [name, ops] of used) {
      const hasDefault = [...ops].some((op) => op === ':-' || op === '-');
      if (!example.vars.has(name) && !hasDefault) throw new Error(`compose.yaml uses \${${name}} with no default and docker/.env.example does not set it`);
      if (ops.has(':?')) expect(example.vars.get(name)).not.toBe('');
    }
    for (const name of example.order) {
      if (!used.has(name)) throw new Error(`docker/.env.example sets ${name}, which compose.yaml never uses`);
    }
    // Secrets are generated per installation, never shipped.
    for (const secret of [
      'BFF_CLIENT_SECRET',
      'BFF_LOGIN_CLIENT_SECRET',
      'BFF_SESSION_SECRET',
      'VALKEY_PASSWORD',
      'TRINO_SHARED_SECRET',
      'KEYCLOAK_ADMIN_PASSWORD',
    ]) {
      expect(example.generated.has(secret)).toBe(true);
    }
  });

  it('refuses to start without a secret: each generated variable is required (${VAR:?...}) where it is used', () => {
    for (const name of example.generated) {
      const vars = new Map(example.vars);
      vars.delete(name);
      expect(() => composeResolved(vars)).toThrow(new RegExp(`required variable ${name} is missing`));
    }
  });

  it('every bind-mounted file exists under docker/, every named volume and network is declared', () => {
    const volumes = new Set(Object.keys(compose.volumes ?? {}));
    const networks = new Set(Object.keys(compose.networks ?? {}));
    for (const [name, service] of Object.entries(services)) {
      for (const v of (service.volumes ?? []) as Array<string | Json>) {
        const source = typeof v === 'string' ? v.split(':')[0] : (v.source as string);
        if (source.startsWith('./') || source.startsWith('../')) {
          if (!fileExists(join(DOCKER, source))) throw new Error(`service ${name} mounts ${source}, which does not exist`);
        } else if (!volumes.has(source)) throw new Error(`service ${name} mounts volume ${source}, which is not declared`);
      }
      for (const n of (service.networks ?? []) as string[]) expect(networks.has(n)).toBe(true);
    }
    if (services.bff.build) expect(fileExists(join(DOCKER, services.bff.build.context, services.bff.build.dockerfile))).toBe(true);
  });

  it('depends_on names existing services with conditions they can meet', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dep, spec] of Object.entries((service.depends_on ?? {}) as Record<string, { condition: string }>)) {
        const target = services[dep];
        if (!target) throw new Error(`${name} depends on ${dep}, which is not a service`);
        if (spec.condition === 'service_healthy') {
          // The BFF's health check is the HEALTHCHECK of docker/Dockerfile.
          const hasCheck = target.healthcheck !== undefined || (dep === 'bff' && /^HEALTHCHECK /m.test(readDocker('Dockerfile')));
          if (!hasCheck) throw new Error(`${name} waits for ${dep} to be healthy, but ${dep} has no health check`);
        }
        if (spec.condition === 'service_completed_successfully') expect(target.restart).toBeUndefined();
      }
    }
  });

  it('publishes only the entry points: nginx (BFF), Envoy (Trino) and Keycloak; MLflow, Valkey and Trino stay internal', () => {
    const published = Object.entries(services)
      .filter(([, s]) => s.ports)
      .map(([n]) => n)
      .sort();
    expect(published).toEqual(['envoy', 'keycloak', 'nginx']);
    // Trino's plain-HTTP port trusts X-Trino-User: only Envoy, the BFF and Keycloak (JWKS) share its network.
    const onTrinoNet = Object.entries(services)
      .filter(([, s]) => (s.networks ?? []).includes('trino'))
      .map(([n]) => n)
      .sort();
    expect(onTrinoNet).toEqual(['bff', 'envoy', 'keycloak', 'trino']);
    expect(compose.networks.trino.internal).toBe(true);
    // MLflow has no authentication of its own: only the BFF reaches it.
    const onMlflowNet = Object.entries(services)
      .filter(([, s]) => (s.networks ?? []).includes('mlflow'))
      .map(([n]) => n)
      .sort();
    expect(onMlflowNet).toEqual(['bff', 'mlflow']);
    expect(services.mlflow.command.join(' ')).not.toMatch(/--app-name/);
  });

  describe('the BFF service environment against src/config/env.schema.ts', () => {
    const env = environmentOf(services.bff);
    const rawEnv = environmentOf((raw.services as Json).bff);
    const keys = schemaKeys();

    it('the schema is read from class-validator metadata and agrees with the source', () => {
      const fromSource = [...readFileSync(join(ROOT, 'src/config/env.schema.ts'), 'utf8').matchAll(/^\s+([A-Z][A-Z0-9_]+)\?: /gm)].map((m) => m[1]).sort();
      expect(keys).toEqual(fromSource);
    });

    it('has no key the schema does not know (besides Node.js runtime variables)', () => {
      const unknown = Object.keys(env).filter((k) => !keys.includes(k) && !(NODE_RUNTIME_KEYS as readonly string[]).includes(k));
      expect(unknown).toEqual([]);
    });

    it('loadConfig() accepts it as a production configuration (no missing or invalid key), for both Trino modes', () => {
      let config: ReturnType<typeof loadConfig> | undefined;
      try {
        config = loadConfig(env);
      } catch (err) {
        throw new Error(err instanceof ConfigError ? err.message : String(err));
      }
      expect(config.env).toBe('production');
      expect(config.sandbox).toBe(false);
      expect(config.valkeyUrl).toMatch(/^redis:\/\/:[0-9a-f]{48}@valkey:6379$/);
      expect(config.trino.auth).toBe('exchange');
      expect(loadConfig({ ...env, TRINO_AUTH: 'basic' }).trino.basicAuth).toMatch(/^svc-bff:/);
    });

    it('takes every secret from docker/.env, never from the file itself', () => {
      for (const key of SECRET_KEYS) {
        if (rawEnv[key] === undefined) continue;
        const vars = variablesIn(rawEnv[key]);
        expect(vars.length).toBeGreaterThan(0);
        expect(vars.every((v) => v.op === ':?' || (v.op === ':-' && v.arg === ''))).toBe(true);
      }
    });

    it('points at services of this file, on a network it shares with them, on the ports they listen on', () => {
      const config = loadConfig(env);
      const bffNets = new Set<string>(services.bff.networks);
      const reach = (url: string) => {
        const host = hostOf(url);
        const target = services[host];
        if (!target) throw new Error(`${url}: ${host} is not a compose service`);
        expect((target.networks as string[]).some((n) => bffNets.has(n))).toBe(true);
      };
      for (const url of [config.keycloak.url, config.trino.url!, config.trinoGateway.url!, config.mlflow.url!, config.llm.baseUrl!, config.valkeyUrl!]) reach(url);
      expect(portOf(config.keycloak.url)).toBe(8080);
      const trinoProps = parseProperties(readDocker('trino/config.properties'));
      expect(portOf(config.trino.url!)).toBe(Number(trinoProps.get('http-server.https.port')));
      expect(new URL(config.trino.url!).protocol).toBe('https:');
      const gw = yamlFile('trino-gateway/config.yaml');
      expect(portOf(config.trinoGateway.url!)).toBe(Number(gw.serverConfig['http-server.https.port']));
      expect(services.mlflow.command).toContain(`--port=${portOf(config.mlflow.url!)}`);
    });

    it('one issuer everywhere: Keycloak KC_HOSTNAME, the BFF, Trino JWT and the Trino Gateway agree', () => {
      const config = loadConfig(env);
      const kc = environmentOf(services.keycloak);
      expect(`${kc.KC_HOSTNAME.replace(/\/+$/, '')}/realms/${config.keycloak.realm}`).toBe(config.keycloak.issuer);
      const trino = parseProperties(readDocker('trino/config.properties'));
      expect(trino.get('http-server.authentication.jwt.required-issuer')).toBe(config.keycloak.issuer);
      expect(trino.get('http-server.authentication.jwt.key-file')).toBe(config.keycloak.jwksUri);
      const gw = yamlFile('trino-gateway/config.yaml').authentication.oauth;
      expect(gw.issuer).toBe(config.keycloak.issuer);
      expect(gw.jwkEndpoint).toBe(config.keycloak.jwksUri);
      expect(gw.tokenEndpoint).toBe(config.keycloak.tokenEndpoint);
    });

    it('trusts the compose CA (NODE_EXTRA_CA_CERTS) from a volume the init service writes', () => {
      const ca = env.NODE_EXTRA_CA_CERTS;
      const mount = (services.bff.volumes as string[]).map((v) => v.split(':')).find(([, target]) => ca.startsWith(`${target}/`));
      expect(mount).toBeDefined();
      const initMount = (services.init.volumes as string[]).map((v) => v.split(':')).find(([source]) => source === mount![0]);
      expect(initMount).toBeDefined();
      expect(readDocker('init/init.sh')).toContain('"$OUT/ca/ca.pem"');
      expect(`${initMount![1]}/ca.pem`).toBe(`/out/ca/ca.pem`);
    });
  });
});

describe('Trino and the Trino Gateway configs', () => {
  const env = environmentOf(composeResolved().services.bff);
  const config = loadConfig(env);
  const trino = parseProperties(readDocker('trino/config.properties'));

  it('Trino: JWT authentication of tokens exchanged for ${WORKSPACE_ID}-${TRINO_AUDIENCE}, principal = TRINO_USER_CLAIM', () => {
    expect(trino.get('http-server.authentication.type')!.split(',')).toEqual(expect.arrayContaining(['JWT', 'PASSWORD']));
    expect(trino.get('http-server.authentication.jwt.required-audience')).toBe(`${config.workspaceId}-${config.trino.audience}`);
    expect(trino.get('http-server.authentication.jwt.principal-field')).toBe(config.trino.userClaim);
    expect(trino.get('http-server.https.enabled')).toBe('true');
    expect(trino.get('internal-communication.shared-secret')).toBe('${ENV:TRINO_SHARED_SECRET}');
    expect(environmentOf(composeResolved().services.trino).TRINO_SHARED_SECRET).toMatch(/^[0-9a-f]{48}$/);
  });

  it('Trino: process-forwarded, so nextUri names the proxy the client came through', () => {
    expect(trino.get('http-server.process-forwarded')).toBe('true');
  });

  it('Trino: the impersonation rules let the BFF principal (TRINO_BASIC_AUTH user) act as users, and no one else', () => {
    const rules = JSON.parse(readDocker('trino/rules.json')) as Json;
    const bffUser = config.trino.basicAuth!.split(':')[0];
    const impersonation = rules.impersonation as Array<{ original_user: string; new_user: string; allow?: boolean }>;
    // First match wins, no match denies (Trino's file-based access control).
    const decide = (original: string, next: string) => {
      const rule = impersonation.find((r) => new RegExp(`^(?:${r.original_user ?? '.*'})$`).test(original) && new RegExp(`^(?:${r.new_user})$`).test(next));
      return rule ? rule.allow !== false : false;
    };
    expect(decide(bffUser, 'alice')).toBe(true);
    expect(decide(bffUser, 'service-account-ci-pipeline')).toBe(true);
    expect(decide(bffUser, 'svc-other')).toBe(false);
    expect(decide('alice', 'admin')).toBe(false);
    expect(decide('admin', 'alice')).toBe(false);
    expect(parseProperties(readDocker('trino/access-control.properties')).get('security.config-file')).toBe('/etc/trino/rules.json');
    const pw = parseProperties(readDocker('trino/password-authenticator.properties'));
    expect(pw.get('password-authenticator.name')).toBe('file');
    expect(pw.get('file.password-file')).toBe('/etc/trino/tls/password.db');
  });

  it('Trino Gateway: OAuth for the audience the BFF exchanges for, HTTPS only, writable FILE routing rules', () => {
    const gw = yamlFile('trino-gateway/config.yaml');
    expect(gw.authentication.defaultType).toBe('oauth');
    expect(gw.authentication.oauth.audiences).toEqual([`${config.workspaceId}-${config.trinoGateway.audience}`]);
    expect(gw.authentication.oauth.clientId).toBe(`${config.workspaceId}-${config.trinoGateway.audience}`);
    expect(gw.serverConfig['http-server.http.enabled']).toBe(false);
    expect(gw.serverConfig['http-server.https.enabled']).toBe(true);
    expect(gw.routingRules.rulesType).toBe('FILE');
    const rulesMount = (composeResolved().services['trino-gateway'].volumes as string[]).find((v) => v.startsWith('gateway-rules:'));
    expect(gw.routingRules.rulesConfigPath.startsWith(`${rulesMount!.split(':')[1]}/`)).toBe(true);
    // ADMIN may do everything; REGULAR reads; a user without either is refused.
    const privileges = (roles: string[]) => roles.join('_');
    const may = (role: 'admin' | 'user' | 'api', roles: string[]) => new RegExp(`^${gw.authorization[role]}$`).test(privileges(roles));
    expect(may('admin', ['ADMIN', 'REGULAR'])).toBe(true);
    expect(may('admin', ['REGULAR'])).toBe(false);
    expect(may('api', ['REGULAR', 'offline_access'])).toBe(true);
    expect(may('api', ['offline_access', 'uma_authorization'])).toBe(false);
    // Break-glass: Basic needs a form section (its key pair from the TLS volume) and the BFF's account in presetUsers.
    const tlsMount = (composeResolved().services['trino-gateway'].volumes as string[]).find((v) => v.startsWith('gateway-tls:'))!.split(':')[1];
    expect(gw.authentication.form.selfSignKeyPair).toEqual({ privateKeyRsa: `${tlsMount}/form-private.pem`, publicKeyRsa: `${tlsMount}/form-public.pem` });
    const resolved = composeResolved().services as Record<string, Json>;
    const [bgUser, bgPassword] = environmentOf(resolved.bff).TRINO_GATEWAY_BASIC_AUTH.split(':');
    expect(Object.keys(gw.presetUsers)).toEqual([bgUser]);
    expect(gw.presetUsers[bgUser].password).toBe('${ENV:TRINO_GW_BREAK_GLASS_PASSWORD}');
    expect(environmentOf(resolved['trino-gateway']).TRINO_GW_BREAK_GLASS_PASSWORD).toBe(bgPassword);
    expect(new RegExp(`^${gw.authorization.admin}$`).test(gw.presetUsers[bgUser].privileges)).toBe(true);
    const seeded = parseYamlAll(readDocker('trino-gateway/routing-rules.yaml')) as Json[];
    for (const rule of seeded)
      expect(rule).toEqual(expect.objectContaining({ name: expect.any(String), condition: expect.any(String), actions: expect.any(Array) }));
  });
});

describe('docker/Dockerfile (issue 10 item 1)', () => {
  const text = readDocker('Dockerfile');
  const stages = text.split(/^FROM /m).slice(1);
  const final = stages.at(-1)!;

  it('is multi-stage and the runtime stage copies only production node_modules and the compiled app', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/npm ci --omit=dev/);
    expect(final).toMatch(/COPY --from=prod-deps \/app\/node_modules/);
    expect(final).toMatch(/COPY --from=build \/app\/dist/);
    expect(final).not.toMatch(/COPY (src|test|sandbox|bench) /);
    expect(final).toMatch(/NODE_ENV=production/);
  });

  it('runs as a non-root numeric user, with a HEALTHCHECK on /health/live and node as PID 1 for SIGTERM', () => {
    const user = /^USER (\S+)/m.exec(final)?.[1];
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    expect(final).toMatch(/^HEALTHCHECK .*\n?.*\/health\/live/m);
    expect(final).toMatch(/^STOPSIGNAL SIGTERM$/m);
    expect(final).toMatch(/^CMD \["node", "dist\/main\.js"\]$/m);
    expect(readFileSync(join(ROOT, 'src/app.factory.ts'), 'utf8')).toMatch(/enableShutdownHooks\(\)/);
  });

  it('every package the app imports at runtime is a production dependency (the image has no devDependencies)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const deps = new Set(Object.keys(pkg.dependencies));
    const builtin = new Set(builtinModules);
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((e) => (statSync(join(dir, e)).isDirectory() ? walk(join(dir, e)) : [join(dir, e)]));
    const missing: string[] = [];
    for (const file of walk(join(ROOT, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))) {
      const source = readFileSync(file, 'utf8');
      // Value imports only: `import type` is erased by tsc.
      for (const m of source.matchAll(
        /^\s*(?:import|export)\s+(?!type\s)[^;]*?\sfrom\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm,
      )) {
        const spec = m[1] ?? m[2] ?? m[3] ?? m[4];
        if (spec.startsWith('.') || spec.startsWith('node:') || builtin.has(spec)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!deps.has(name)) missing.push(`${name} (${file.slice(ROOT.length + 1)})`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('docker/init/init.sh, run for real (openssl, htpasswd)', () => {
  let dir: string;
  const run = () =>
    execFileSync('sh', [dockerPath('init/init.sh')], {
      env: {
        ...process.env,
        INIT_STATE_DIR: join(dir, 'state'),
        INIT_OUT_DIR: join(dir, 'out'),
        INIT_SEED_DIR: join(dir, 'seed'),
        TRINO_BFF_PASSWORD: 'pw-for-the-test',
      },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  beforeAll(() => {
    for (const tool of ['openssl', 'htpasswd']) {
      const found = spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
      if (!found) throw new Error(`${tool} is needed to run docker/init/init.sh (Debian packages openssl, apache2-utils)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'bff-init-'));
    for (const d of ['state', 'seed', 'out/ca', 'out/trino', 'out/trino-gateway', 'out/gateway-rules']) mkdirSync(join(dir, d), { recursive: true });
    cpSync(dockerPath('trino-gateway/routing-rules.yaml'), join(dir, 'seed/routing-rules.yaml'));
    expect(run()).toMatch(/ready/);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('issues server certificates for trino and trino-gateway, signed by the CA the BFF trusts', () => {
    const ca = new X509Certificate(readFileSync(join(dir, 'out/ca/ca.pem')));
    for (const name of ['trino', 'trino-gateway']) {
      const pem = readFileSync(join(dir, `out/${name}/${name}.pem`), 'utf8');
      expect(pem).toMatch(/-----BEGIN PRIVATE KEY-----/);
      const cert = new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----')));
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkHost(name)).toBe(name);
      expect(cert.ca).toBe(false);
      expect(statSync(join(dir, `out/${name}/${name}.pem`)).mode & 0o077).toBe(0);
    }
    expect(readdirSync(join(dir, 'out/ca'))).toEqual(['ca.pem']);
  });

  it('a TLS server with trino.pem is trusted by Node with only ca.pem (what NODE_EXTRA_CA_CERTS gives the BFF)', async () => {
    const pem = readFileSync(join(dir, 'out/trino/trino.pem'), 'utf8');
    const server = createHttpsServer({ key: pem, cert: pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----')) }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const authorized = await new Promise<boolean>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'trino', ca: readFileSync(join(dir, 'out/ca/ca.pem')) }, () => {
          resolve(socket.authorized);
          socket.end();
        });
        socket.on('error', reject);
      });
      expect(authorized).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('writes the Trino password file for svc-bff (bcrypt) and seeds the writable routing rules', () => {
    const db = join(dir, 'out/trino/password.db');
    expect(readFileSync(db, 'utf8')).toMatch(/^svc-bff:\$2y\$10\$/);
    expect(spawnSync('htpasswd', ['-vb', db, 'svc-bff', 'pw-for-the-test']).status).toBe(0);
    expect(spawnSync('htpasswd', ['-vb', db, 'svc-bff', 'wrong']).status).not.toBe(0);
    expect(readFileSync(join(dir, 'out/gateway-rules/routing-rules.yaml'), 'utf8')).toBe(readDocker('trino-gateway/routing-rules.yaml'));
  });

  it('writes the gateway’s form key pair (PKCS#8 private, X.509 public), the one without which it refuses HTTP Basic', () => {
    const priv = readFileSync(join(dir, 'out/trino-gateway/form-private.pem'), 'utf8');
    const pub = readFileSync(join(dir, 'out/trino-gateway/form-public.pem'), 'utf8');
    expect(priv).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(pub).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(createPublicKey(priv).export({ type: 'spki', format: 'pem' })).toBe(pub);
    expect(statSync(join(dir, 'out/trino-gateway/form-private.pem')).mode & 0o077).toBe(0);
  });

  it('is idempotent: a second run keeps the CA and the certificates', () => {
    const before = readFileSync(join(dir, 'out/trino/trino.pem'), 'utf8');
    run();
    expect(readFileSync(join(dir, 'out/trino/trino.pem'), 'utf8')).toBe(before);
  });

  it('the compose file mounts each piece only where it is needed (the CA key stays in init)', () => {
    const services = composeResolved().services as Record<string, Json>;
    const mounts = (name: string) => ((services[name].volumes ?? []) as string[]).map((v) => v.split(':')[0]);
    expect(
      Object.entries(services)
        .filter(([, s]) => ((s.volumes ?? []) as string[]).some((v) => v.startsWith('init-state:')))
        .map(([n]) => n),
    ).toEqual(['init']);
    expect(mounts('trino')).toContain('trino-tls');
    expect(mounts('trino-gateway')).toContain('gateway-tls');
    expect(mounts('bff')).toEqual(['platform-ca']);
    expect(GENERATE).toBe('__generate__');
  });
});
