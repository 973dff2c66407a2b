import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AppConfig } from '../config/app-config';
import { waitUntil } from '../../test/support/net';
import { ACCESS_TOKEN_TYPE, identityProviderProblem, TOKEN_EXCHANGE_GRANT, TokenEndpointClient, TokenEndpointError } from './token-endpoint.client';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

describe('TokenEndpointClient', () => {
  let server: Server;
  let url: string;
  let handler: Handler;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => handler(req, body, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/r/protocol/openid-connect/token`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const client = (timeoutMs = 1000) =>
    new TokenEndpointClient({
      keycloak: { tokenEndpoint: url },
      clientId: 'platform bff',
      clientSecret: 's3cr:t/+',
      tokenExchange: { cacheTtlS: 180, timeoutMs },
    } as AppConfig);
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  it('sends an RFC 8693 standard token exchange with client_secret_basic (form-urlencoded id and secret)', async () => {
    let seen: { auth?: string; type?: string; form?: URLSearchParams } = {};
    handler = (req, body, res) => {
      seen = { auth: req.headers.authorization, type: req.headers['content-type'], form: new URLSearchParams(body) };
      json(res, 200, { access_token: 'exchanged', expires_in: 120, token_type: 'Bearer', issued_token_type: ACCESS_TOKEN_TYPE });
    };
    expect(await client().exchange('subject', 'ws-trino-gw')).toEqual({ accessToken: 'exchanged', expiresIn: 120 });
    expect(Buffer.from(seen.auth!.replace(/^Basic /, ''), 'base64').toString()).toBe('platform%20bff:s3cr%3At%2F%2B');
    expect(seen.type).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(seen.form!)).toEqual({
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: 'subject',
      subject_token_type: ACCESS_TOKEN_TYPE,
      requested_token_type: ACCESS_TOKEN_TYPE,
      audience: 'ws-trino-gw',
      // The realm's client scope of the audience (an optional scope of the BFF client): Keycloak only narrows aud.
      scope: 'ws-trino-gw',
    });
  });

  it('a subject token Keycloak will not exchange any more (400 "Invalid token": its session ended) is 401 token_invalid for the caller', async () => {
    handler = (_req, _body, res) => json(res, 400, { error: 'invalid_request', error_description: 'Invalid token' });
    const err = (await client()
      .exchange('s', 'a')
      .catch((e: unknown) => e)) as TokenEndpointError;
    expect(err.subjectRejected).toBe(true);
    const shown = identityProviderProblem(err, 'token exchange for a');
    expect([shown.getStatus(), shown.reason]).toEqual([401, 'token_invalid']);
    // Any other refusal stays 403 token_exchange_denied.
    handler = (_req, _body, res) => json(res, 400, { error: 'invalid_request', error_description: 'Requested audience not available: a' });
    const other = (await client()
      .exchange('s', 'a')
      .catch((e: unknown) => e)) as TokenEndpointError;
    expect(other.subjectRejected).toBe(false);
    expect([identityProviderProblem(other, 'x').getStatus(), identityProviderProblem(other, 'x').reason]).toEqual([403, 'token_exchange_denied']);
  });

  it('sends the client-credentials grant', async () => {
    let form: URLSearchParams | undefined;
    handler = (_req, body, res) => {
      form = new URLSearchParams(body);
      json(res, 200, { access_token: 'sa', expires_in: 300 });
    };
    expect(await client().clientCredentials()).toEqual({ accessToken: 'sa', expiresIn: 300 });
    expect(Object.fromEntries(form!)).toEqual({ grant_type: 'client_credentials' });
  });

  it.each([
    [400, { error: 'invalid_request', error_description: 'Requested audience not available: x' }, 'invalid_request'],
    [401, { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' }, 'unauthorized_client'],
    [403, { error: 'access_denied', error_description: 'Client is not within the token audience' }, 'access_denied'],
    [403, { error: 'not a code <script>' }, undefined],
  ])('%i is a refusal, with the OAuth error code when it is sane', async (status, body, code) => {
    handler = (_req, _body, res) => json(res, status, body);
    const err = (await client()
      .exchange('s', 'a')
      .catch((e: unknown) => e)) as TokenEndpointError;
    expect(err).toBeInstanceOf(TokenEndpointError);
    expect(err.kind).toBe('refused');
    expect(err.status).toBe(status);
    expect(err.oauthError).toBe(code);
    expect(err.detail).not.toContain('Client is not');
  });

  it.each([
    ['a 5xx', (res: ServerResponse) => json(res, 502, { error: 'bad gateway' })],
    ['a 404', (res: ServerResponse) => json(res, 404, { error: 'not found' })],
    ['a malformed body', (res: ServerResponse) => res.end('{"access_token":')],
    ['no access token', (res: ServerResponse) => json(res, 200, { expires_in: 300 })],
    ['a reset connection', (res: ServerResponse) => res.socket?.destroy()],
  ])('%s is unavailable', async (_what, answer) => {
    handler = (_req, _body, res) => answer(res);
    const err = (await client()
      .exchange('s', 'a')
      .catch((e: unknown) => e)) as TokenEndpointError;
    expect(err).toBeInstanceOf(TokenEndpointError);
    expect(err.kind).toBe('unavailable');
  });

  it('gives up after TOKEN_EXCHANGE_TIMEOUT_MS and lets go of the request', async () => {
    let requestClosed = false;
    // Answers five times the limit late (a timer in this process: it cannot fire before the client's 200 ms one).
    handler = (req, _body, res) => {
      // Under load the client may already have given up before the body was read here.
      if (req.socket.destroyed) return void (requestClosed = true);
      const late = setTimeout(() => json(res, 200, { access_token: 'too late', expires_in: 60 }), 5 * 200);
      res.once('close', () => {
        requestClosed = true;
        clearTimeout(late);
      });
    };
    const err = (await client(200)
      .exchange('s', 'a')
      .catch((e: unknown) => e)) as TokenEndpointError;
    // The configured limit ended it (not a wall-clock bound): the late answer was not waited for, the detail names
    // the limit, and the request is closed.
    expect(err).toBeInstanceOf(TokenEndpointError);
    expect(err.kind).toBe('unavailable');
    expect(err.detail).toBe('the identity provider did not answer within 200 ms');
    await waitUntil(() => requestClosed, { what: 'the hung token request to be closed' });
  });

  it('never puts the subject token or the secret in an error', async () => {
    handler = (_req, _body, res) => json(res, 400, { error: 'invalid_request', error_description: 'Invalid token subject-token-value' });
    const err = (await client()
      .exchange('subject-token-value', 'a')
      .catch((e: unknown) => e)) as TokenEndpointError;
    expect(JSON.stringify({ m: err.message, d: err.detail })).not.toMatch(/subject-token-value|s3cr/);
  });
});
