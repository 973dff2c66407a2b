'use strict';
// (d) The fastest Node verifier: Fastify + @fastify/jwt (fast-jwt) with its verified-token cache on,
// keyed by the token string itself as the BFF's cache is (fast-jwt's default key is a SHA hash of the
// token), 20,000 entries as the BFF's. Keys from the realm's JWKS, fetched once at start-up, chosen by
// the token's `kid` (a realm rotates keys). Per request: decode, cache lookup, and on a miss one RS256
// verification with issuer, audience and expiry checked. @fastify/jwt is a devDependency of the
// repository root (resolved from there); Fastify is this folder's, the same as the bare ceiling's.
const { createPublicKey } = require('node:crypto');
const Fastify = require('fastify');
const fastifyJwt = require('@fastify/jwt');
const { config, identity, ready } = require('./common');

async function main() {
  const cfg = config();
  const jwks = await (await fetch(cfg.jwksUri)).json();
  const pems = new Map(
    jwks.keys.filter((k) => k.use !== 'enc').map((k) => [k.kid, createPublicKey({ key: k, format: 'jwk' }).export({ type: 'spki', format: 'pem' })]),
  );
  const app = Fastify({ logger: false });
  await app.register(fastifyJwt, {
    // The secret callback gets the decoded token; `complete` gives it the header (kid) too.
    decode: { complete: true },
    secret: (request, token, done) => {
      const pem = pems.get(token.header.kid);
      if (pem) done(null, pem);
      else done(new Error('unknown kid'));
    },
    verify: {
      algorithms: ['RS256'],
      allowedIss: cfg.issuer,
      allowedAud: cfg.audience,
      requiredClaims: ['exp'],
      cache: 20000,
      cacheKeyBuilder: (token) => token,
    },
  });
  // Every failure of verification (no token, bad signature, unknown kid, claims) is a 401.
  app.addHook('onRequest', async (request, reply) => {
    try {
      await request.jwtVerify();
    } catch {
      return reply.code(401).send({ error: 'unauthorized' });
    }
  });
  app.get('/me', async (request) => identity(request.user));
  // The ext-authz shape, for the smoke test's symmetry with the other authenticating peers.
  app.all('/validate/*', async (request, reply) => {
    reply.header('x-trino-user', request.user.preferred_username).code(200).send();
  });
  await app.listen({ port: cfg.port, host: cfg.host });
  ready('fastify-jwt', app.server.address().port);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
