import * as http from 'node:http';
import pino from 'pino';
import { createRootLogger } from '../../src/common/logging';
import { LogCapture } from './log-capture';
import { formatLeaks, scanLog, stripSandboxBanner } from './log-scan';

/** A JWT-shaped string (the scanner does not verify anything: the shape is enough). */
function jwt(payload: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'RS256', typ: 'JWT', kid: 'sandbox-key-1' })}.${b64(payload)}.${Buffer.from('s'.repeat(64)).toString('base64url')}`;
}

const alice = jwt({ sub: 'alice-0001', preferred_username: 'alice', exp: 2000000000 });
const nothing = { secrets: new Map<string, string>(), tokens: [] as string[] };

describe('log-hygiene scanner (planted leaks)', () => {
  it('finds a whole JWT, whoever issued it', () => {
    const leaks = scanLog('app', `{"level":30,"msg":"verifying ${alice}"}\n`, nothing);
    expect(leaks.map((l) => l.what)).toEqual(['a JWT-shaped string']);
    expect(leaks[0].context).not.toContain(alice.slice(10)); // the report masks the value
  });

  it('finds one segment of a token the file used (the signature alone is not JWT-shaped)', () => {
    const signature = alice.split('.')[2];
    const leaks = scanLog('app', `{"msg":"bad signature ${signature}"}`, { secrets: new Map(), tokens: [alice] });
    expect(leaks.map((l) => l.what)).toEqual(['segment 2 of token #1']);
    const payload = alice.split('.')[1];
    expect(scanLog('app', `"claims":"${payload}"`, { secrets: new Map(), tokens: [alice] }).map((l) => l.what)).toEqual(['segment 1 of token #1']);
  });

  it('finds known secrets as they are, URL-encoded, and user:password as a Basic credential or the password alone', () => {
    const secrets = new Map([
      ['LLM_API_KEY', 'sk-provider-key-0123456789'],
      ['TRINO_GATEWAY_BASIC_AUTH', 'bff-break-glass:pa/ss+word=42x'],
      ['BFF_SESSION_SECRET', 'short'], // under 8 characters: not checked by content
    ]);
    const known = { secrets, tokens: [] };
    expect(scanLog('a', 'calling with key sk-provider-key-0123456789', known).map((l) => l.what)).toEqual(['LLM_API_KEY']);
    expect(scanLog('a', `url=/x?k=${encodeURIComponent('bff-break-glass:pa/ss+word=42x')}`, known).map((l) => l.what)).toEqual(['TRINO_GATEWAY_BASIC_AUTH']);
    expect(scanLog('a', 'password pa/ss+word=42x rejected', known).map((l) => l.what)).toEqual(['TRINO_GATEWAY_BASIC_AUTH (password)']);
    const basic = Buffer.from('bff-break-glass:pa/ss+word=42x').toString('base64');
    expect(
      scanLog('a', `auth: Basic ${basic}`, known)
        .map((l) => l.what)
        .sort(),
    ).toEqual(['TRINO_GATEWAY_BASIC_AUTH', 'a Basic credential']);
    expect(scanLog('a', 'a short secret in a sentence', known)).toEqual([]);
  });

  it('finds unredacted access-token= and ticket= query values, and Basic / Bearer values of unknown credentials', () => {
    const what = (text: string) => scanLog('a', text, nothing).map((l) => l.what);
    expect(what('"url":"/api/agents/1/react?access-token=abc.def"')).toEqual(['an unredacted access-token= query value']);
    expect(what('"url":"/api/agents/1/react?x=1&ticket=T0pS3cr3tT1ck3t"')).toEqual(['an unredacted ticket= query value']);
    expect(what('"url":"/api/agents/1/react?ticket=[REDACTED]&access-token=%5BREDACTED%5D"')).toEqual([]);
    expect(what(`Authorization: Basic ${Buffer.from('ops:correct horse').toString('base64')}`)).toEqual(['a Basic credential']);
    expect(what('Basic authentication refused')).toEqual([]);
    expect(what('sent Bearer opaque-token-value-1234567890')).toEqual(['a Bearer value']);
    expect(what('"authorization":"Bearer [REDACTED]"')).toEqual([]);
  });

  it('counts repeats once and says so', () => {
    const leaks = scanLog('app', `${alice.split('.')[2]} and again ${alice.split('.')[2]}`, { secrets: new Map(), tokens: [alice] });
    expect(leaks).toHaveLength(1);
    expect(leaks[0].what).toBe('segment 2 of token #1 (and 1 more time)');
    expect(formatLeaks(leaks)).toMatch(/^log hygiene: 1 credential in the captured logs of this file\n {2}- segment 2 of token #1 \(and 1 more time\) in app: …/);
  });

  it("cuts the sandbox banner out of a spawned BFF's stdout, its tokens becoming known", () => {
    const admin = jwt({ sub: 'admin' });
    const banner = [
      '',
      '  Platform BFF — SANDBOX MODE (local emulators on loopback; not for production)',
      '  Demo tokens (valid 8 hours):',
      '    alice (REGULAR):',
      `      ${alice}`,
      '    admin (ADMIN):',
      `      ${admin}`,
      '  Try:          curl -H "Authorization: Bearer <token>" http://x/auth/me',
      '',
    ].join('\n');
    const stdout = `{"msg":"starting"}\n${banner}{"msg":"request completed"}\n`;
    const { text, tokens } = stripSandboxBanner(stdout);
    expect(tokens).toEqual([alice, admin]);
    expect(text).toBe('{"msg":"starting"}\n\n{"msg":"request completed"}\n');
    expect(scanLog('bff', text, { secrets: new Map(), tokens })).toEqual([]);
    expect(scanLog('bff', `${text}{"msg":"${admin.split('.')[1]}"}`, { secrets: new Map(), tokens }).map((l) => l.what)).toEqual(['segment 1 of token #2']);
  });
});

describe('LogCapture', () => {
  it('scans what a root logger wrote into its sink, with the credentials clients sent to the watched server', async () => {
    const capture = new LogCapture();
    const sink = capture.sink('test app');
    const log = createRootLogger({ logLevel: 'debug' }, sink);
    const server = http.createServer((req, res) => {
      // A planted leak: the raw header, in a way no redaction path covers (split into pieces).
      const auth = req.headers.authorization ?? '';
      log.info({ event: 'planted' }, `credential pieces: ${auth.split('.').join(' ')}`);
      res.end('ok');
    });
    capture.watch(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await fetch(`http://127.0.0.1:${port}/`, { headers: { authorization: `Bearer ${alice}` } });
    await new Promise<void>((r) => server.close(() => r()));
    capture.env({ LLM_API_KEY: 'sk-provider-key-0123456789', TRINO_URL: 'http://127.0.0.1:1' }, 'test');
    log.warn(`provider refused key sk-provider-key-0123456789`);
    const leaks = capture.scan().map((l) => l.what);
    expect(leaks).toEqual(expect.arrayContaining(['segment 1 of token #1', 'segment 2 of token #1', 'LLM_API_KEY (test)']));
    expect(sink.text()).toContain('"event":"planted"');
  });

  it('knows the WebSocket tickets sent in upgrade queries, without adding an upgrade listener', async () => {
    const capture = new LogCapture();
    const log = createRootLogger({ logLevel: 'debug' }, capture.sink('test app'));
    const server = http.createServer();
    server.on('upgrade', (req: http.IncomingMessage, socket: import('node:net').Socket) => {
      log.info(`upgrade for ${new URL(req.url ?? '/', 'http://x').searchParams.get('ticket')}`); // planted: the ticket in a message
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
    });
    capture.watch(server);
    expect(server.listenerCount('upgrade')).toBe(1);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const ticket = 'Zm9vYmFyYmF6cXV4LXRpY2tldC0wMTIzNDU2Nzg5';
    await new Promise<void>((resolve) => {
      const req = http.request({ port, host: '127.0.0.1', path: `/api/agents/1/react?ticket=${ticket}`, headers: { connection: 'Upgrade', upgrade: 'websocket' } });
      req.on('response', () => resolve());
      req.on('upgrade', () => resolve());
      req.on('error', () => resolve());
      req.end();
    });
    await new Promise<void>((r) => server.close(() => r()));
    expect(capture.scan().map((l) => l.what)).toEqual(['token #1']);
  });

  it('a logger of the product redacts whole tokens and credential query values: nothing to find', () => {
    const capture = new LogCapture();
    const log = createRootLogger({ logLevel: 'debug' }, capture.sink('app'));
    capture.token(alice);
    log.info({ req: { method: 'GET', url: `/api/agents/1/react?access-token=${alice}&ticket=abcdefabcdef` } }, `token ${alice}`);
    log.info({ err: new Error(`bad token ${alice}`) }, 'failed');
    expect(capture.scan()).toEqual([]);
    expect(capture.size()).toBeGreaterThan(100);
  });

  it('tee(): a sink stays itself; another destination is captured and still written', () => {
    const capture = new LogCapture();
    const sink = capture.sink('s');
    expect(capture.tee(sink, 'x')).toBe(sink);
    const lines: string[] = [];
    const teed = capture.tee({ write: (l: string) => void lines.push(l) }, 'other');
    pino({ level: 'info' }, teed).info(`leaked ${alice}`);
    expect(lines).toHaveLength(1);
    expect(capture.scan().map((l) => `${l.what} in ${l.source}`)).toEqual(['a JWT-shaped string in other']);
  });
});
