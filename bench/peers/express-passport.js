'use strict';
// (b) The textbook setup: Express + passport + passport-jwt, keys from the JWKS through jwks-rsa's
// passportJwtSecret (with its key cache and rate limit). Every request: one RS256 verification
// (jsonwebtoken), issuer, audience and expiry checked.
const express = require('express');
const passport = require('passport');
const { Strategy: JwtStrategy, ExtractJwt } = require('passport-jwt');
const jwksRsa = require('jwks-rsa');
const { config, identity, ready } = require('./common');

const cfg = config();
passport.use(
  new JwtStrategy(
    {
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKeyProvider: jwksRsa.passportJwtSecret({
        jwksUri: cfg.jwksUri,
        cache: true,
        rateLimit: true,
        jwksRequestsPerMinute: 10,
      }),
      issuer: cfg.issuer,
      audience: cfg.audience,
      algorithms: ['RS256'],
    },
    (payload, done) => done(null, payload),
  ),
);

const app = express();
app.disable('x-powered-by');
app.use(passport.initialize());
const auth = passport.authenticate('jwt', { session: false });
app.get('/me', auth, (req, res) => res.json(identity(req.user)));
// The ext-authz shape, for completeness (not in the default table).
app.all('/validate/*path', auth, (req, res) => {
  res.set('x-trino-user', req.user.preferred_username).status(200).end();
});
const server = app.listen(cfg.port, cfg.host, () => ready('express-passport', server.address().port));
