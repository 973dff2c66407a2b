import { createServer } from 'node:net';

/** The message for a port another process listens on: what happened and what to do, no stack trace. */
export const portInUseMessage = (port: number, host: string): string =>
  `Platform BFF cannot start: port ${port} is in use on ${host} (another Platform BFF, or another program, is listening there); set PORT=… to pick another, for example PORT=${port === 65535 ? port - 1 : port + 1} npm start`;

/**
 * Whether host:port can be listened on now: checked before the sandbox emulators start, so that a
 * second `npm start` says so at once. (app.listen's EADDRINUSE is still handled: the port may be
 * taken in between.) Port 0 is always free.
 */
export function portIsFree(port: number, host: string): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolvePromise(false) : reject(err)));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolvePromise(true)));
  });
}
