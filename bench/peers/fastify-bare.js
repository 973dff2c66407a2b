'use strict';
// (c) The ceiling: a bare Fastify route with no authentication at all, answering a fixed identity.
const Fastify = require('fastify');
const { config, ready } = require('./common');

const cfg = config();
const FIXED = {
  subject: '7c1d3a52-9e4b-4f0e-8a61-0b5c2d9e4f11',
  username: 'alice',
  email: 'alice@example.com',
  name: 'Alice Liddell',
  roles: ['REGULAR', 'offline_access', 'uma_authorization', 'default-roles-platform'],
  groups: ['/data-team'],
  issuer: cfg.issuer,
  clientId: 'platform-frontend',
  audiences: ['platform-bff', 'account'],
  expiresAt: new Date(Date.now() + 3600_000).toISOString(),
};

const app = Fastify({ logger: false });
app.get('/me', async () => FIXED);
app.listen({ port: cfg.port, host: cfg.host }).then(() => ready('fastify-bare', app.server.address().port));
