import type * as http from 'node:http';

/**
 * The small HTTP plumbing the emulators share (node:http servers on loopback): a bounded body
 * reader, JSON and text answers, listen on a loopback port, close with every connection.
 */

/** A request body above the emulator's limit (the emulator answers 413 the way its real server does). */
export class BodyTooLarge extends Error {}

export function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown, extraHeaders: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    ...extraHeaders,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

export function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

/** Listens on 127.0.0.1 (port 0: any free one) and resolves with the base URL. */
export function listen(server: http.Server, port: number | undefined, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      if (!address || typeof address === 'string') {
        reject(new Error(`${name} emulator: no TCP address`));
        return;
      }
      resolve(`http://127.0.0.1:${address.port}`);
    });
  });
}

/** Stops listening and drops every open connection (keep-alive ones included). */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}
