// Webhooks as a receiver sees them: every delivery verifies with the
// Standard Webhooks reference library (the `standardwebhooks` package), and
// one order's events arrive placed → paid → fulfilled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { startServer } from './server.mjs';

const SECRET = 'webhook-test-secret-of-at-least-32-bytes!';

function mintToken(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`;
}

function token(sub, kind, roles = []) {
  const iat = Math.floor(Date.now() / 1000);
  return mintToken({ sub, iss: 'cartql', iat, nbf: iat, exp: iat + 600, kind, roles });
}

async function graphql(base, query, variables, bearer) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

test('deliveries verify with the Standard Webhooks library and keep each order in order',
  { timeout: 60_000 }, async () => {
  const received = [];
  const receiver = createServer((request, response) => {
    const chunks = [];
    request.on('data', (c) => chunks.push(c));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(204).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${receiver.address().port}/hooks`;
  const server = await startServer(['--webhook-allow-insecure'], { env: { CARTQL_JWT_SECRET: SECRET } });
  try {
    const admin = token('ops', 'customer', ['admin']);
    const buyer = token('buyer-1', 'customer');
    const made = await graphql(server.base,
      'mutation($url: String!) { createWebhookEndpoint(input: { url: $url, events: [ORDER_PLACED, ORDER_PAID, ORDER_FULFILLED] }) { secret userErrors { code } } }',
      { url }, admin);
    const { secret } = made.createWebhookEndpoint;
    await graphql(server.base, 'mutation { addCartLines(input: { lines: [{ sku: "MUG-LOGO", quantity: 2 }] }) { cart { version } } }', {}, buyer);
    const { checkout } = await graphql(server.base,
      'mutation { checkout(input: { idempotencyKey: "js-1" }) { order { id } userErrors { code } } }', {}, buyer);
    const orderId = checkout.order.id;
    await graphql(server.base, 'mutation($id: ID!) { markOrderPaid(input: { orderId: $id }) { userErrors { code } } }', { id: orderId }, admin);
    await graphql(server.base, 'mutation($id: ID!) { markOrderFulfilled(input: { orderId: $id }) { userErrors { code } } }', { id: orderId }, admin);

    for (let i = 0; i < 300 && received.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, 3, `three deliveries: ${JSON.stringify(received)}`);

    const webhook = new Webhook(secret.slice('whsec_'.length));
    const events = received.map(({ headers, body }) => webhook.verify(body, headers));
    assert.deepEqual(events.map((e) => e.type), ['order.placed', 'order.paid', 'order.fulfilled']);
    assert.ok(events.every((e) => e.data.order.id === orderId));
    assert.deepEqual(events.map((e) => e.data.order.status), ['PLACED', 'PAID', 'FULFILLED']);
    assert.equal(events[0].data.order.lines[0].quantity, 2);

    // A body changed in transit, or a wrong secret, does not verify.
    const [first] = received;
    assert.throws(() => webhook.verify(first.body.replace('MUG-LOGO', 'MUG-LOG0'), first.headers));
    const stranger = new Webhook(Buffer.alloc(32, 7).toString('base64'));
    assert.throws(() => stranger.verify(first.body, first.headers));
  } finally {
    await server.stop();
    receiver.close();
  }
});
