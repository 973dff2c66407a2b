import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import { loadConfig, type Env } from '../../src/config/load-config';
import { startSandbox, type Sandbox } from '../../sandbox/index';

/** A sandbox (issuer + emulators) and the BFF in-process, listening on a random loopback port. */
export interface TestBff {
  app: NestFastifyApplication;
  url: string;
  sandbox: Sandbox;
  token(user?: string, opts?: Parameters<Sandbox['issuer']['issueToken']>[0]): Promise<string>;
  close(): Promise<void>;
}

export async function startTestBff(env: Env = {}, opts: { sandbox?: Sandbox } = {}): Promise<TestBff> {
  const sandbox = opts.sandbox ?? (await startSandbox());
  const config = loadConfig({ LOG_LEVEL: 'silent', NODE_ENV: 'test', ...sandbox.env, ...env });
  const app = await createApp(config);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return {
    app,
    url: `http://127.0.0.1:${address.port}`,
    sandbox,
    token: (user = 'alice', o = {}) => sandbox.issuer.issueToken({ user, ...o }),
    close: async () => {
      await app.close();
      if (!opts.sandbox) await sandbox.close();
    },
  };
}
