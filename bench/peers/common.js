'use strict';
// Shared by the peer apps: their configuration (PORT, ISSUER, JWKS_URI, AUDIENCE from env) and the
// identity they answer with, the same shape as the BFF's GET /auth/me (PrincipalDto), so response
// sizes stay comparable.

function config() {
  const need = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is required`);
    return v;
  };
  return {
    port: Number(process.env.PORT ?? 0),
    host: process.env.HOST ?? '127.0.0.1',
    issuer: need('ISSUER'),
    jwksUri: need('JWKS_URI'),
    audience: need('AUDIENCE'),
  };
}

const strings = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);

/** The caller's identity from verified claims, as the BFF's PrincipalDto. */
function identity(claims) {
  return {
    subject: String(claims.sub),
    username: claims.preferred_username,
    email: claims.email,
    name: claims.name,
    roles: strings(claims.realm_access && claims.realm_access.roles),
    groups: strings(claims.groups),
    issuer: claims.iss,
    clientId: claims.azp,
    audiences: typeof claims.aud === 'string' ? [claims.aud] : strings(claims.aud),
    expiresAt: new Date(Number(claims.exp) * 1000).toISOString(),
  };
}

/** Tells the parent process (peers.bench / smoke.js) where the app listens. */
function ready(name, port) {
  process.stdout.write(`${JSON.stringify({ ready: name, port })}\n`);
}

module.exports = { config, identity, ready };
