import * as fs from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser, LaunchOptions } from 'playwright-core';

/** Debian's chromium (a shell wrapper around /usr/lib/chromium/chromium). Override with CHROMIUM_PATH. */
export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
}

export function chromiumAvailable(): boolean {
  try {
    fs.accessSync(chromiumPath(), fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const CHROMIUM_ARGS = [
  '--headless',
  // Root has no usable sandbox here (no user namespaces for setuid-less chromium).
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Keep every request on TCP so nginx/node:http see it exactly like a browser's HTTP/1.1 request.
  '--disable-quic',
  // Small /dev/shm in containers makes chromium crash under load.
  '--disable-dev-shm-usage',
];

/**
 * Launches headless Debian chromium through playwright-core. playwright creates (and removes on
 * close) a fresh temporary profile dir for each launch, so no user-data-dir is needed.
 * Always `await browser.close()` in the test.
 */
export function launchChromium(opts: Partial<LaunchOptions> = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
    ...opts,
  });
}
