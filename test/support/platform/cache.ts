import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where scripts/fetch-platform.sh keeps the real-platform releases (outside the repository): PLATFORM_BFF_CACHE or ~/.cache/platform-bff. */
export function platformCache(): string {
  return process.env.PLATFORM_BFF_CACHE || join(homedir(), '.cache', 'platform-bff');
}
