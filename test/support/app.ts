import type { Server } from 'node:http';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import { createRootLogger } from '../../src/common/logging';
import { loadConfig, type Env } from '../../src/config/load-config';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { logCapture } from './log-capture';

/** A sandbox (issuer + emulators) and the BFF in-process, listening on a random loopback port. */
export interface TestBff {
  app: NestFastifyApplication;
  url: string;
  sandbox: Sandbox;
  token(user?: string, opts?: Parameters<Sandbox['issuer']['issueToken']>[0]): Promise<string>;
  /** Everything this BFF logged (debug level, kept in memory: the file's log-hygiene scan reads it too). */
  logs(): string;
  close(): Promise<void>;
}

let started = 0;

/**
 * The BFF logs at debug level (request, decision, audit and exchange lines) into memory, never to stdout;
 * LOG_LEVEL=silent is raised to debug too (the capture keeps jest's output clean). The log-hygiene scan
 * (log-hygiene.setup.ts) checks it after the file, knowing the env's secrets and every credential clients sent.
 */
export async function startTestBff(env: Env = {}, opts: { sandbox?: Sandbox; port?: number } = {}): Promise<TestBff> {
  const sandbox = opts.sandbox ?? (await startSandbox());
  const level = env.LOG_LEVEL && env.LOG_LEVEL !== 'silent' ? env.LOG_LEVEL : 'debug';
  const merged: Env = { NODE_ENV: 'test', ...sandbox.env, ...env, LOG_LEVEL: level };
  const config = loadConfig(merged);
  logCapture.sandbox(sandbox);
  logCapture.env(merged, 'startTestBff');
  const sink = logCapture.sink(`in-process BFF #${++started} (LOG_LEVEL=${level})`);
  const app = await createApp(config, { logger: createRootLogger(config, sink) });
  logCapture.watch(app.getHttpServer() as Server);
  await app.listen(opts.port ?? 0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return {
    app,
    url: `http://127.0.0.1:${address.port}`,
    sandbox,
    token: (user = 'alice', o = {}) => sandbox.issuer.issueToken({ user, ...o }),
    logs: () => sink.text(),
    close: async () => {
      await app.close();
      if (!opts.sandbox) await sandbox.close();
    },
  };
}
