/**
 * Log hygiene for every test file of the integration and e2e projects (jest setupFilesAfterEnv):
 * whatever the file's BFFs logged — in-process apps (startTestBff, at debug level, into memory), any
 * other root logger (the createRootLogger spy below), spawned builds (spawnNode of a main.js) — is
 * scanned after the file (test/support/log-scan.ts). A credential in it fails the file: jest reports
 * an afterAll error as a failed suite (testExecError), and scripts/test-all.sh counts it.
 */
import * as logging from '../../src/common/logging';
import { logCapture } from './log-capture';
import { formatLeaks } from './log-scan';

const createRootLogger = logging.createRootLogger;
jest
  .spyOn(logging, 'createRootLogger')
  .mockImplementation((config, destination) => createRootLogger(config, logCapture.tee(destination, `a root logger (LOG_LEVEL=${config.logLevel})`)));

// Registered before the file's own hooks, on the root block: runs after every describe block's afterAll.
afterAll(() => {
  const started = Date.now();
  const leaks = logCapture.scan();
  if (process.env.LOG_HYGIENE_VERBOSE === '1') {
    process.stderr.write(`log hygiene: ${expect.getState().testPath ?? ''}: ${logCapture.summary()}; ${leaks.length} leaks; scan ${Date.now() - started} ms\n`);
  }
  if (leaks.length > 0) throw new Error(formatLeaks(leaks));
});
