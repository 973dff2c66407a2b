import * as net from 'node:net';
import * as tls from 'node:tls';

/**
 * An HTTPS front for an in-process BFF: TLS terminated on loopback, bytes passed to the BFF's plain
 * port. The Trino CLI and JDBC send a bearer token only over HTTPS, as a deployment's ingress does.
 */
export interface TlsFront {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port` (PUBLIC_URL must name it before the BFF starts). */
export async function startTlsFront(pem: string, targetPort: number, port: number): Promise<TlsFront> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ key: pem, cert: pem }, (client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
