import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser';
import { startSandboxBff, type SandboxBff } from './bff-process';

/** A new user's first steps: open Swagger UI, paste a printed demo token, call GET /auth/me. */
describe('Swagger UI in a real headless Chromium', () => {
  let bff: SandboxBff;
  let browser: Browser;

  beforeAll(async () => {
    bff = await startSandboxBff();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await bff?.stop();
  });

  it('authorizes with a demo token and executes GET /auth/me', async () => {
    const page = await browser.newPage();
    await page.goto(`${bff.url}/docs`);
    await page.locator('button.authorize').first().click();
    const bearerBlock = page.locator('.auth-container').filter({ hasText: 'bearer' }).first();
    await bearerBlock.locator('input').first().fill(bff.tokens.alice);
    await bearerBlock.locator('button.authorize').click();
    await page.locator('button.btn-done').first().click();

    const op = page.locator('#operations-auth-Auth_me');
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor();
    expect((await status.innerText()).trim()).toBe('200');
    const body = await op.locator('.live-responses-table .response-col_description pre').first().innerText();
    expect(JSON.parse(body)).toMatchObject({ username: 'alice', roles: expect.arrayContaining(['REGULAR']) });
    await page.close();
  });

  it('without authorizing, the same call shows the 401 problem', async () => {
    const page = await browser.newPage();
    await page.goto(`${bff.url}/docs`);
    const op = page.locator('#operations-auth-Auth_me');
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor();
    expect((await status.innerText()).trim()).toBe('401');
    await page.close();
  });
});
