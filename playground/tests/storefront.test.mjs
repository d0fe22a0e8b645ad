// The README's "For storefront developers" section, run as a storefront
// would run it: its urql graphcache config (a normalized cache) and its
// token recipe (graphql-ws reconnecting with a renewed token). The code is
// taken from the README's blocks marked `<!-- tested: NAME -->`, never
// copied here, so the README cannot drift from what works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client, fetchExchange } from '@urql/core';
import WebSocket from 'ws';
import { startServer } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const readme = readFileSync(join(here, '..', '..', 'README.md'), 'utf8');
const output = join(here, 'output');

/** The ```js block right after `<!-- tested: name -->` in the README. */
function readmeBlock(name) {
  const marker = `<!-- tested: ${name} -->`;
  const at = readme.indexOf(marker);
  assert.notEqual(at, -1, `the README has no block marked ${marker}`);
  const block = /^```js\n([\s\S]*?)^```$/m.exec(readme.slice(at + marker.length));
  assert.ok(block, `no \`\`\`js block follows ${marker} in the README`);
  return block[1];
}

/** Imports a README block as a module (written beside the tests so its imports resolve). */
async function importReadmeBlock(name) {
  mkdirSync(output, { recursive: true });
  const file = join(output, `readme-${name}.mjs`);
  writeFileSync(file, readmeBlock(name));
  return import(pathToFileURL(file).href);
}

async function graphql(base, query, variables = {}, token) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, `HTTP ${response.status}: ${JSON.stringify(body)}`);
  assert.equal(body.errors, undefined, `errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function guestToken(base) {
  return (await graphql(base, 'mutation { startGuestSession { token } }')).startGuestSession.token;
}

async function addLines(base, token, cart, lines) {
  const { addCartLines } = await graphql(base,
    'mutation($input: AddCartLinesInput!) { addCartLines(input: $input) { cart { version } userErrors { code message } } }',
    { input: { cart, lines } }, token);
  assert.deepEqual(addCartLines.userErrors, []);
  return addCartLines.cart.version;
}

/** The same value without the `__typename`s urql adds to every selection. */
const withoutTypenames = (value) => JSON.parse(JSON.stringify(value, (key, v) => (key === '__typename' ? undefined : v)));

/** Fails with `what` unless `promise` settles within `ms`. */
function within(ms, what, promise) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Things that happen over time, waited for by what they are. */
class Happenings {
  seen = [];
  waiters = [];
  push(thing) {
    this.seen.push(thing);
    this.waiters = this.waiters.filter(({ match, resolve }) => !(match(thing) && (resolve(thing), true)));
  }
  /** The first thing (already seen, or still to come) that `match`es. */
  next(match, ms, what) {
    const found = this.seen.find(match);
    if (found) return Promise.resolve(found);
    return within(ms, `${what}; seen: ${JSON.stringify(this.seen)}`,
      new Promise((resolve) => this.waiters.push({ match, resolve })));
  }
}

const CART = 'id version subtotal { amount currencyCode } lines { id sku quantity }';

test('a normalized cache never mixes lines of two carts', { timeout: 60_000 }, async () => {
  const server = await startServer();
  const warnings = [];
  const { warn, error } = console;
  console.warn = (...args) => warnings.push(['warn', ...args]);
  console.error = (...args) => warnings.push(['error', ...args]);
  try {
    const { cartqlCache, cacheOptions, nodeTypes } = await importReadmeBlock('urql-graphcache');

    // The README's lists are the schema's: the Node types, and every other object type keyed null.
    const { __schema: schema } = await graphql(server.base, `{ __schema {
      queryType { name } mutationType { name } subscriptionType { name }
      types { kind name interfaces { name } } } }`);
    const roots = [schema.queryType.name, schema.mutationType.name, schema.subscriptionType.name];
    const objects = schema.types.filter((t) => t.kind === 'OBJECT' && !t.name.startsWith('__') && !roots.includes(t.name));
    const implementors = objects.filter((t) => t.interfaces.some((i) => i.name === 'Node')).map((t) => t.name).sort();
    assert.deepEqual([...nodeTypes].sort(), implementors, "the README's urql nodeTypes are the schema's Node implementors");
    assert.deepEqual([...cacheOptions.possibleTypes.Node].sort(), implementors);
    const apolloNode = /Node:\s*\[([^\]]*)\]/.exec(readmeBlock('apollo-cache'));
    assert.ok(apolloNode, "the README's Apollo config lists the Node types");
    assert.deepEqual(apolloNode[1].split(',').map((s) => s.trim().replace(/'/g, '')).filter(Boolean).sort(), implementors,
      "the README's Apollo possibleTypes are the schema's Node implementors");
    for (const { name } of objects) {
      if (implementors.includes(name)) {
        assert.equal(cacheOptions.keys[name], undefined, `${name} is keyed by its id in the README's urql config`);
      } else {
        assert.equal(cacheOptions.keys[name]?.(), null, `${name} has no global id: the README's urql config must key it null`);
      }
    }

    // One viewer with two carts that both begin with a mug; another viewer with one.
    const alice = await guestToken(server.base);
    const bob = await guestToken(server.base);
    await addLines(server.base, alice, 'default', [{ sku: 'MUG-LOGO', quantity: 1 }, { sku: 'TEE-BLK-L', quantity: 2 }]);
    await addLines(server.base, alice, 'wishlist', [{ sku: 'MUG-LOGO', quantity: 1 }, { sku: 'STICKER-PACK', quantity: 3 }]);
    await addLines(server.base, bob, 'default', [{ sku: 'MUG-LOGO', quantity: 1 }, { sku: 'HOODIE-GRY-M', quantity: 1 }]);
    const truth = async () => {
      const mine = await graphql(server.base, `{ default: cart(name: "default") { ${CART} } wishlist: cart(name: "wishlist") { ${CART} } }`, {}, alice);
      const theirs = await graphql(server.base, `{ cart { ${CART} } }`, {}, bob);
      return { default: mine.default, wishlist: mine.wishlist, bob: theirs.cart };
    };
    const before = await truth();
    const lineIds = [before.default, before.wishlist, before.bob].flatMap((c) => c.lines.map((l) => l.id));
    assert.equal(new Set(lineIds).size, lineIds.length, `line ids are unique across carts and viewers: ${lineIds}`);

    // One cache: alice's carts by name, bob's (as after a change of viewer) by node id.
    const client = new Client({
      url: `${server.base}/graphql`,
      exchanges: [cartqlCache(), fetchExchange],
      fetchOptions: () => ({ headers: { authorization: `Bearer ${alice}` } }),
    });
    const asBob = { fetchOptions: { headers: { authorization: `Bearer ${bob}` } } };
    const CART_BY_NAME = `query($name: String!) { cart(name: $name) { ${CART} } }`;
    const CART_BY_ID = `query($id: ID!) { node(id: $id) { id ... on Cart { ${CART} } } }`;
    // A fragment on the interface: without the Node types graphcache would only guess it matches.
    const LINE_BY_ID = 'query($id: ID!) { node(id: $id) { ...Entity ... on CartLine { sku quantity } } } fragment Entity on Node { id }';
    const run = async (query, variables, context) => {
      const result = await client.query(query, variables, context).toPromise();
      assert.equal(result.error, undefined, `${result.error}`);
      return withoutTypenames(result.data);
    };
    assert.deepEqual((await run(CART_BY_NAME, { name: 'default' })).cart, before.default);
    assert.deepEqual((await run(CART_BY_NAME, { name: 'wishlist' })).cart, before.wishlist);
    assert.deepEqual((await run(CART_BY_ID, { id: before.bob.id }, asBob)).node, before.bob);
    const wishMug = before.wishlist.lines.find((l) => l.sku === 'MUG-LOGO');
    const wishStickers = before.wishlist.lines.find((l) => l.sku === 'STICKER-PACK');
    assert.deepEqual((await run(LINE_BY_ID, { id: wishMug.id })).node, wishMug);

    // Change the wishlist's mug and drop its stickers, through the cache.
    const update = await client.mutation(
      `mutation($input: UpdateCartLinesInput!) { updateCartLines(input: $input) { cart { ${CART} } userErrors { code field message } } }`,
      { input: { cart: 'wishlist', lines: [{ id: wishMug.id, quantity: 4 }, { id: wishStickers.id, quantity: 0 }] } },
    ).toPromise();
    assert.equal(update.error, undefined, `${update.error}`);
    assert.deepEqual(update.data.updateCartLines.userErrors, []);

    const after = await truth();
    assert.deepEqual(after.wishlist.lines, [{ id: wishMug.id, sku: 'MUG-LOGO', quantity: 4 }], 'the line kept its id through the update');
    assert.deepEqual(after.default, before.default);
    const cacheOnly = { requestPolicy: 'cache-only' };
    assert.deepEqual((await run(CART_BY_NAME, { name: 'default' }, cacheOnly)).cart, after.default, "alice's default cart, from the cache");
    assert.deepEqual((await run(CART_BY_NAME, { name: 'wishlist' }, cacheOnly)).cart, after.wishlist, "alice's wishlist, from the cache");
    assert.deepEqual((await run(CART_BY_ID, { id: after.bob.id }, { ...asBob, ...cacheOnly })).node, after.bob, "bob's cart, from the cache");
    assert.deepEqual((await run(LINE_BY_ID, { id: wishMug.id }, cacheOnly)).node, after.wishlist.lines[0], 'the changed line, from the cache');

    assert.deepEqual(warnings, [], 'graphcache printed no warnings');
  } finally {
    console.warn = warn;
    console.error = error;
    await server.stop();
  }
});

const SECRET = 'storefront-test-secret-of-at-least-32-bytes';

/** An HS256 token the server accepts, signed with its secret. */
function mintToken(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ulid = () => Array.from({ length: 26 }, (_, i) => CROCKFORD[randomInt(i === 0 ? 8 : 32)]).join('');

test('the graphql-ws recipe reconnects with a renewed token when the socket closes at expiry',
  { timeout: 60_000 }, async () => {
  const server = await startServer([], { env: { CARTQL_JWT_SECRET: SECRET } });
  let session;
  try {
    const { cartqlSession } = await importReadmeBlock('token-recipe');
    // A guest token that expires in about two seconds: renewAfter (halfway,
    // in whole seconds) is then still ahead when the socket first connects.
    const guest = ulid();
    const iat = Math.ceil(Date.now() / 1000);
    const token = mintToken({ sub: guest, iss: 'cartql', iat, nbf: iat, exp: iat + 2, kind: 'guest', roles: [] });
    const { viewer } = await graphql(server.base, '{ viewer { id renewAfter renewableUntil } }', {}, token);
    assert.equal(viewer.id, guest);

    // What each connection sent in connection_init.
    const inits = [];
    class RecordingWebSocket extends WebSocket {
      send(data, ...rest) {
        const message = JSON.parse(data);
        if (message.type === 'connection_init') inits.push(message.payload);
        return super.send(data, ...rest);
      }
    }
    const saves = [];
    session = cartqlSession({
      url: `${server.base}/graphql`,
      wsUrl: `${server.base.replace(/^http/, 'ws')}/graphql/ws`,
      saved: { token, renewAfter: viewer.renewAfter, renewableUntil: viewer.renewableUntil },
      save: (kept) => saves.push(kept),
      webSocketImpl: RecordingWebSocket,
    });
    const closes = new Happenings();
    const connections = new Happenings();
    session.ws.on('closed', (event) => closes.push({ code: event.code, reason: event.reason }));
    session.ws.on('connected', () => connections.push(connections.seen.length + 1));

    const events = new Happenings();
    session.ws.subscribe({ query: 'subscription { cartUpdated { version } }' }, {
      next: (value) => events.push(value),
      error: (e) => events.push({ ended: 'error', error: e?.code ? { code: e.code, reason: e.reason } : e }),
      complete: () => events.push({ ended: 'complete' }),
    });
    await events.next((e) => e.data?.cartUpdated, 5_000, 'the first cartUpdated event');
    assert.equal(inits[0]?.Authorization, `Bearer ${token}`, 'the first connection used the minted token');

    // exp + 5 s leeway + 1 s: the server closes the socket with 4403.
    const closed = await closes.next(() => true, 12_000, 'the socket to close');
    assert.equal(closed.code, 4403, `the socket closed with 4403, not ${JSON.stringify(closed)}; the subscription saw ${JSON.stringify(events.seen)}`);
    await connections.next((n) => n === 2, 10_000, 'the client to reconnect');
    const renewed = saves.at(-1)?.token;
    assert.ok(renewed, 'the recipe renewed the token');
    assert.notEqual(renewed, token);
    assert.equal(inits.at(-1)?.Authorization, `Bearer ${renewed}`, 'the new connection used the renewed token');
    assert.equal((await graphql(server.base, '{ viewer { id } }', {}, renewed)).viewer.id, guest, 'the renewed token is the same guest');

    // The subscription goes on over the new socket.
    const version = await addLines(server.base, renewed, 'default', [{ sku: 'MUG-LOGO', quantity: 1 }]);
    await events.next((e) => e.data?.cartUpdated?.version === version, 5_000, `the cartUpdated event of version ${version}`);
    assert.ok(!events.seen.some((e) => e.ended || e.errors), `the subscription never ended or failed: ${JSON.stringify(events.seen)}`);
  } finally {
    await session?.ws.dispose();
    await server.stop();
  }
});
