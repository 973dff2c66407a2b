import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from './app.factory';
import { ConfigError, loadConfig, type Env } from './config/load-config';
import { loadDotEnv } from './config/dotenv';
import { portInUseMessage, portIsFree } from './config/port-probe';
import type { AppConfig } from './config/app-config';
import { appliedSandboxGroups, mergeSandboxEnv } from './sandbox-env';

/** Keys the sandbox issuer owns: in sandbox mode the user's env cannot point them elsewhere. */
const SANDBOX_IDP_KEYS = ['KEYCLOAK_URL', 'KEYCLOAK_REALM', 'BFF_CLIENT_ID', 'BFF_CLIENT_SECRET', 'BFF_LOGIN_CLIENT_ID', 'BFF_LOGIN_CLIENT_SECRET'];

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

async function banner(config: AppConfig, issueToken: (user: string) => Promise<string>): Promise<void> {
  const base = config.publicUrl ?? `http://127.0.0.1:${config.port}`;
  const lines = [
    '',
    '  Platform BFF — SANDBOX MODE (local emulators on loopback; not for production)',
    `  Swagger UI:   ${base}/docs        OpenAPI: ${base}/docs-json`,
    `  Issuer:       ${config.keycloak.issuer}`,
    '  Demo tokens (valid 8 hours; paste into Swagger UI → Authorize):',
  ];
  for (const [user, what] of [
    ['alice', 'REGULAR'],
    ['admin', 'ADMIN'],
    ['viewer', 'no role'],
  ]) {
    lines.push(`    ${user} (${what}):`, `      ${await issueToken(user)}`);
  }
  lines.push(`  Try:          curl -H "Authorization: Bearer <token>" ${base}/auth/me`, '');
  process.stdout.write(lines.join('\n') + '\n');
}

async function main(): Promise<void> {
  loadDotEnv(); // .env of the working directory, when present; the process environment wins
  const env: Env = { ...process.env };
  const sandboxMode = !env.KEYCLOAK_URL;
  let early: AppConfig;
  try {
    early = loadConfig(env, { sandbox: sandboxMode }); // every error at once, before anything starts
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  if (!(await portIsFree(early.port, early.host))) fail(portInUseMessage(early.port, early.host));

  let closeSandbox: (() => Promise<void>) | undefined;
  let issueToken: ((user: string) => Promise<string>) | undefined;
  let demoEmulators: Set<string> = new Set();
  if (sandboxMode) {
    // Loaded only in sandbox mode: production never imports the emulators.
    const { startSandbox } = await import('../sandbox/index');
    const sandbox = await startSandbox({ issuerPort: env.SANDBOX_ISSUER_PORT ? Number(env.SANDBOX_ISSUER_PORT) : undefined, demo: true });
    // Each emulator's keys apply all or nothing: LLM_BASE_URL of the user's never gets the sandbox's LLM_API_KEY.
    Object.assign(env, mergeSandboxEnv(env, sandbox.groups, SANDBOX_IDP_KEYS));
    demoEmulators = appliedSandboxGroups(env, sandbox.groups);
    closeSandbox = sandbox.close;
    issueToken = (user) => sandbox.issuer.issueToken({ user, expiresInS: 8 * 3600 });
  }

  let config: AppConfig;
  try {
    config = loadConfig(env, { sandbox: sandboxMode });
  } catch (err) {
    await closeSandbox?.();
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const app: NestFastifyApplication = await createApp(config);
  if (closeSandbox) app.getHttpAdapter().getInstance().addHook('onClose', closeSandbox);
  try {
    await app.listen(config.port, config.host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    await app.close();
    fail(portInUseMessage(config.port, config.host));
  }
  if (issueToken) {
    const { createSandboxDemo } = await import('./sandbox-demo');
    // The resources the OpenAPI examples name, created through the BFF itself (on loopback, whatever HOST is).
    const host = ['0.0.0.0', '::'].includes(config.host) ? '127.0.0.1' : config.host;
    const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
    const token = issueToken;
    await createSandboxDemo({ app, baseUrl, token: (user) => token(user), emulators: demoEmulators }).catch((err: unknown) =>
      process.stderr.write(`Sandbox demo data not created (some Swagger UI examples will answer 404): ${err instanceof Error ? err.message : String(err)}\n`),
    );
    await banner(config, issueToken);
  }
}

main().catch((err: unknown) => fail(`Platform BFF failed to start: ${err instanceof Error ? err.message : String(err)}`));
