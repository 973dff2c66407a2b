'use strict';
// (a) NestJS 10 on Express (its default platform) + nest-keycloak-connect + keycloak-connect, the
// AuthGuard registered globally as nest-keycloak-connect's README shows, in local (offline) token
// validation: `tokenValidation: 'offline'`, `bearer-only`, `verify-token-audience`.
//
// Offline validation in keycloak-connect checks exp, typ, iss (== <auth-server-url>/realms/<realm>),
// aud and the RS256 signature. The key comes either from the realm's JWKS
// (<realm>/protocol/openid-connect/certs, fetched once and looked up by kid: KC_KEY_MODE=jwks, the
// default, what a deployment uses since it follows key rotation) or from a fixed `realm-public-key`
// (KC_KEY_MODE=realm-public-key: fetched here once from JWKS_URI at startup).
require('reflect-metadata');
const { createPublicKey } = require('node:crypto');
const { Module, Controller, Get, All, Req, Res } = require('@nestjs/common');
const { APP_GUARD, NestFactory } = require('@nestjs/core');
const { KeycloakConnectModule, AuthGuard, TokenValidation } = require('nest-keycloak-connect');
const { config, identity, ready } = require('./common');

// Plain JS has no decorator syntax: apply them the way TypeScript's emitted code does.
const decorate = (decorators, target, key, desc) => Reflect.decorate(decorators, target, key, desc);
const method = (cls, name, decorators, params = []) => {
  const proto = cls.prototype;
  decorate([...decorators, ...params.map((p, i) => (t, k) => p(t, k, i))], proto, name, Object.getOwnPropertyDescriptor(proto, name));
};

async function realmPublicKey(jwksUri) {
  const res = await fetch(jwksUri);
  if (!res.ok) throw new Error(`JWKS ${jwksUri}: HTTP ${res.status}`);
  const { keys } = await res.json();
  const jwk = keys.find((k) => k.kty === 'RSA' && (k.use ?? 'sig') === 'sig');
  if (!jwk) throw new Error('no RSA signing key in the JWKS');
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }).toString('base64');
}

async function main() {
  const cfg = config();
  const m = /^(.*)\/realms\/([^/]+)$/.exec(cfg.issuer);
  if (!m) throw new Error(`ISSUER is not a Keycloak realm URL: ${cfg.issuer}`);
  const [, authServerUrl, realm] = m;
  let mode = process.env.KC_KEY_MODE ?? 'jwks';
  // keycloak-connect derives the JWKS URL from the realm; any other JWKS_URI needs the fixed key.
  if (mode === 'jwks' && cfg.jwksUri !== `${cfg.issuer}/protocol/openid-connect/certs`) mode = 'realm-public-key';

  const kcOptions = {
    'auth-server-url': authServerUrl,
    realm,
    'client-id': cfg.audience,
    secret: '',
    'bearer-only': true,
    'verify-token-audience': true,
    tokenValidation: TokenValidation.OFFLINE,
    ...(mode === 'realm-public-key' ? { 'realm-public-key': await realmPublicKey(cfg.jwksUri) } : {}),
  };

  class MeController {
    me(req) {
      return identity(req.user);
    }
    validate(req, res) {
      res.setHeader('x-trino-user', req.user.preferred_username);
      res.setHeader('x-envoy-auth-headers-to-remove', 'x-trino-original-user,x-user-id,x-user-name,x-user-email,x-forwarded-user');
      res.status(200).end();
    }
  }
  method(MeController, 'me', [Get('me')], [Req()]);
  method(MeController, 'validate', [All('validate/*')], [Req(), Res()]);
  decorate([Controller()], MeController);

  class AppModule {}
  decorate(
    [
      Module({
        imports: [KeycloakConnectModule.register(kcOptions)],
        controllers: [MeController],
        providers: [{ provide: APP_GUARD, useClass: AuthGuard }],
      }),
    ],
    AppModule,
  );

  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(cfg.port, cfg.host);
  ready(`nest-keycloak-connect (${mode})`, app.getHttpServer().address().port);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
