import type { ServerResponse } from 'node:http';
import type { Readable, Transform } from 'node:stream';

/**
 * Streams `source` through `transform`, as stream.pipeline would, without its per-call AbortController and
 * listeners (measurable at one call per page): an error of the source destroys the transform with it, and
 * a transform closed early (the client went away: Fastify destroys the stream it was sending) destroys the
 * source, which ends the upstream request.
 */
export function streamThrough<T extends Transform>(source: Readable, transform: T): T {
  source.on('error', (err) => transform.destroy(err));
  transform.once('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  return source.pipe(transform);
}

/**
 * Sends what `body` yields in one read of the upstream socket in one socket write: the response socket is
 * corked at the chunk's arrival and uncorked in a microtask, which runs once the ticks queued meanwhile
 * have run. A page that arrives in one read then leaves in one write with the chunked encoding's
 * terminator (the body's end comes two ticks after its last chunk), where Node would write the page and
 * then the terminator on its own: a system call and a packet less per page. Not later than that: a later
 * uncork (setImmediate) held large pages' chunks a whole loop turn and cost more system time than it saved.
 */
export function writeTurnsTogether(res: ServerResponse, body: Readable): void {
  const socket = res.socket;
  if (!socket) return;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  // prependListener: runs before the writer's own 'data' listener, and (unlike `on`) does not start the flow.
  body.prependListener('data', () => {
    if (corked) return;
    corked = true;
    socket.cork();
    queueMicrotask(uncork);
  });
}
