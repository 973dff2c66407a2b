import type { ServerResponse } from 'node:http';

/** A signal aborted when the client goes away before its response was completely sent. */
export function clientGoneSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
