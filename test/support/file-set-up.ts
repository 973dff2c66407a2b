/**
 * A file's set-up whose start can outlive its beforeAll's timeout (a JVM under load). Jest then fails the hook
 * and runs afterAll while the start goes on, so whatever it starts afterwards (a Trino Gateway, its PostgreSQL)
 * would be left running. `run(start)` keeps the start's promise; `settled()`, awaited first in afterAll, ends
 * only when the start has ended (either way), so the afterAll stops everything the start made.
 */
export interface FileSetUp {
  run<T>(start: () => Promise<T>): Promise<T>;
  settled(): Promise<void>;
}

export function fileSetUp(): FileSetUp {
  let pending: Promise<void> = Promise.resolve();
  return {
    run(start) {
      const started = start();
      pending = started.then(
        () => undefined,
        () => undefined,
      );
      return started;
    },
    settled: () => pending,
  };
}
