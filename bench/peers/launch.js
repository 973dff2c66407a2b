'use strict';
// Starts the peer apps as child processes (one node process each, like the BFF's dist/main.js) and
// installs this folder's own dependencies when they are missing. Used by bench/peers.bench.ts and smoke.js.
const { spawn, spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const DIR = __dirname;

/** The peers: name → entry file and extra env. */
const PEERS = {
  'nest-keycloak-connect': { file: 'nest-keycloak.js', env: { KC_KEY_MODE: 'jwks' } },
  'nest-keycloak-connect (realm-public-key)': { file: 'nest-keycloak.js', env: { KC_KEY_MODE: 'realm-public-key' } },
  'express-passport': { file: 'express-passport.js', env: {} },
  'fastify-jwt': { file: 'fastify-jwt.js', env: {} },
  'fastify-bare': { file: 'fastify-bare.js', env: {} },
};

const REQUIRED = ['nest-keycloak-connect', 'keycloak-connect', '@nestjs/core', '@nestjs/platform-express', 'express', 'passport-jwt', 'jwks-rsa', 'fastify'];

/** `npm ci` in bench/peers when its node_modules is missing or incomplete (falls back to `npm install` without a lockfile). */
function ensureDeps(log = (s) => process.stderr.write(s)) {
  if (REQUIRED.every((p) => existsSync(join(DIR, 'node_modules', p, 'package.json')))) return;
  const args = existsSync(join(DIR, 'package-lock.json')) ? ['ci'] : ['install'];
  log(`bench/peers: installing the peers' dependencies (npm ${args[0]})…\n`);
  const r = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', [...args, '--no-audit', '--no-fund'], { cwd: DIR, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`npm ${args[0]} in ${DIR} failed (exit ${r.status})`);
}

/**
 * Starts one peer with { ISSUER, JWKS_URI, AUDIENCE } (and PORT, default: a free one); resolves
 * when it prints its ready line. Returns { name, url, child, stop() }.
 */
function startPeer(name, env, timeoutMs = 20000) {
  const peer = PEERS[name];
  if (!peer) return Promise.reject(new Error(`unknown peer ${name}`));
  const child = spawn(process.execPath, [join(DIR, peer.file)], {
    cwd: DIR,
    env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', ...peer.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}):\n${output}`));
    });
    child.stderr.on('data', (d) => (output += d.toString()));
    child.stdout.on('data', (d) => {
      output += d.toString();
      const line = output.split('\n').find((l) => l.startsWith('{"ready"'));
      if (!line) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      const { port } = JSON.parse(line);
      resolve({
        name,
        url: `http://127.0.0.1:${port}`,
        child,
        output: () => output,
        stop: () =>
          new Promise((res) => {
            if (child.exitCode !== null || child.signalCode !== null) return res();
            child.once('exit', () => res());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

module.exports = { PEERS, ensureDeps, startPeer, DIR };
