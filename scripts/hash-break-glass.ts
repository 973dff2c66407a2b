/**
 * Prints one BREAK_GLASS_USERS entry, `user:scrypt$N$r$p$salt$key` (format: see
 * src/trino-gateway-admin/break-glass/password-hash.ts).
 *
 *   npm run build && node dist/app/scripts/hash-break-glass.js ops                 # generates a password
 *   printf '%s' "$PASSWORD" | node dist/app/scripts/hash-break-glass.js ops        # hashes the given one
 *
 * The entry goes to stdout; a generated password goes to stderr, once — keep it in the
 * break-glass envelope (password safe), not in the deployment. Join several entries with commas.
 */
import { randomBytes } from 'node:crypto';
import { hashBreakGlassPassword } from '../src/trino-gateway-admin/break-glass/password-hash';

const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function main(): Promise<void> {
  const user = process.argv[2];
  if (!user || !USER_NAME.test(user)) {
    process.stderr.write('usage: hash-break-glass <user>   (user: letters, digits, . _ @ -; password on stdin, or generated)\n');
    process.exit(2);
  }
  let password = process.stdin.isTTY ? '' : await readStdin();
  if (password === '') {
    password = randomBytes(24).toString('base64url');
    process.stderr.write(`generated password for ${user}: ${password}\n`);
  } else if (password.length < 12) {
    process.stderr.write('refusing a break-glass password shorter than 12 characters\n');
    process.exit(2);
  }
  process.stdout.write(`${user}:${await hashBreakGlassPassword(password)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`hash-break-glass: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
