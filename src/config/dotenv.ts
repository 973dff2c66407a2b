import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Loads `.env` of the working directory into process.env when the file exists (Node's own
 * process.loadEnvFile: KEY=value lines, # comments, quoted values). A key already in the process
 * environment keeps its value, even an empty one: the environment wins over the file.
 * Returns the file loaded, if any.
 */
export function loadDotEnv(file = resolve('.env')): string | undefined {
  if (!existsSync(file)) return undefined;
  process.loadEnvFile(file);
  return file;
}
