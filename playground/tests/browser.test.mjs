// The playground in headless Chromium (Debian's package, driven by
// playwright-core), with every request that is not to the server blocked:
// it must work offline. Starts a guest session, picks a variant by its
// options, runs the add-to-cart example, applies the demo's discount code
// and sees the cart, then sees a subscription update arrive. On failure it
// saves a screenshot in playground/tests/output/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const output = join(dirname(fileURLToPath(import.meta.url)), 'output');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Waits until the GraphiQL result pane's text satisfies `predicate`. */
async function resultMatching(page, predicate, what) {
  const pane = page.locator('.graphiql-response');
  const deadline = Date.now() + 15_000;
  let text = '';
  while (Date.now() < deadline) {
    text = await pane.innerText().catch(() => '');
    if (predicate(text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`the result pane never showed ${what}; it shows:\n${text}`);
}

async function runTab(page, title) {
  await page.locator('.graphiql-tab', { hasText: title }).first().click();
  await page.locator('.graphiql-tab-active', { hasText: title }).waitFor();
  await page.waitForTimeout(300); // as a person would; GraphiQL settles the tab's operation
  await page.locator('.graphiql-execute-button').click();
}

test('the playground works offline: guest session, add to cart, live update', async (t) => {
  const server = await startServer();
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  const page = await browser.newPage({ viewport: { width: 1400, height: 850 } });
  const blocked = [];
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(server.base + '/')) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  try {
    await page.goto(server.base + '/');
    await page.locator('.graphiql-container').waitFor({ timeout: 15_000 });

    await page.getByRole('button', { name: 'Start guest session' }).click();
    await page.locator('#viewer', { hasText: /^guest \S+ · expires in 29d/ }).waitFor({ timeout: 10_000 });

    // The option picker: size M in navy is one variant of the hoodie.
    await runTab(page, 'PickVariant');
    const picked = await resultMatching(page, (t) => t.includes('"HOODIE-NVY-M"'), 'the variant picked by its options');
    assert.match(picked, /"title": "M \/ Navy"/);
    assert.match(picked, /"compareAtPrice": \{\s*"amount": "59.00"/);

    await runTab(page, 'AddToCart');
    const added = await resultMatching(page, (t) => t.includes('"MUG-LOGO"') && t.includes('"version": 1'), 'the cart with MUG-LOGO at version 1');
    assert.match(added, /"userErrors": \[\]/);

    await runTab(page, 'CartUpdates');
    await resultMatching(page, (t) => t.includes('"version": 1'), 'the current cart from the subscription');
    // Another tab (here: plain HTTP with the same token) changes the cart.
    const token = await page.evaluate(() => localStorage.getItem('cartql.token'));
    const response = await fetch(server.base + '/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
      body: JSON.stringify({ query: 'mutation { addCartLines(input: {lines: [{sku: "TEE-BLK-M", quantity: 2}]}) { cart { version } } }' }),
    });
    assert.equal((await response.json()).data.addCartLines.cart.version, 2);
    await resultMatching(page, (t) => t.includes('"version": 2') && t.includes('"TEE-BLK-M"'), 'the pushed update at version 2');

    await runTab(page, 'AddToCart');
    await resultMatching(page, (t) => t.includes('"version": 3'), 'the cart at version 3');

    // The demo shop's code: 10 % off, shown in the cart's cost.
    await runTab(page, 'ApplyDiscountCode');
    const discounted = await resultMatching(page, (t) => t.includes('"version": 4') && t.includes('"WELCOME10"'), 'the cart with WELCOME10 at version 4');
    assert.match(discounted, /"applicable": true/);
    assert.doesNotMatch(discounted, /"discountTotal": \{\s*"amount": "0.00"/);

    // Sign up from the session bar: the guest's cart comes along.
    await page.getByLabel('email').fill('browser-test@example.com');
    await page.getByLabel('password').fill('a long enough passphrase');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.locator('#viewer', { hasText: /^customer \S+ · expires in 6d/ }).waitFor({ timeout: 10_000 });
    await runTab(page, 'MyCarts');
    const carts = await resultMatching(page, (t) => t.includes('"CUSTOMER"') && t.includes('"MUG-LOGO"'), 'the merged cart of the new customer');
    assert.match(carts, /"TEE-BLK-M"/);
    mkdirSync(output, { recursive: true });
    await page.screenshot({ path: join(output, 'playground.png') });
    assert.deepEqual(blocked, [], 'the playground requested nothing from outside the server');
    assert.deepEqual(pageErrors, [], 'no script errors');
  } catch (error) {
    mkdirSync(output, { recursive: true });
    await page.screenshot({ path: join(output, 'failure.png') }).catch(() => {});
    t.diagnostic(`screenshot: ${join(output, 'failure.png')}; blocked: ${blocked.join(', ')}; page errors: ${pageErrors.join(' | ')}`);
    throw error;
  } finally {
    await browser.close();
    await server.stop();
  }
});
