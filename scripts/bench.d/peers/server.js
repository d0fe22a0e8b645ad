// A peer of cartql for scripts/bench-peers: the same two operations the
// benchmark sends (a cart read, addCartLines), the same schema shape for
// them, served by Mercurius (fastify, graphql-jit) or Apollo Server, with
// carts in SQLite through better-sqlite3.
//
//   node server.js --engine mercurius|apollo --port 0 --db carts.sqlite
//                  --catalog catalog.json --secret SECRET
//                  [--workers 1] [--token-cache 4096]
//
// Prints `listening on http://127.0.0.1:PORT` once every process listens.
//
// Durable writes: the database is in WAL mode with synchronous=FULL, so
// every committed transaction has fsynced the WAL before the answer leaves
// (cartql's strict durability fsyncs each write's group commit before it
// answers). busy_timeout lets several processes (--workers N, node:cluster
// sharing the port) wait for SQLite's one writer lock instead of failing;
// writes take it at BEGIN (IMMEDIATE), so no transaction fails on upgrading
// a read lock.
//
// Tokens: HS256 JWTs (scripts/bench.d/tokens.py) checked on every request
// with fast-jwt: signature with --secret, algorithm pinned, `iss` cartql,
// `exp`, `nbf`, `sub` required; `sub` is the cart owner. Like cartql's
// verifier (src/auth/token.rs, 4,096 verified tokens by their text, expiry
// checked again on a hit), fast-jwt keeps --token-cache verified tokens
// (0 turns the cache off: every request checks the signature).
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { createVerifier } from 'fast-jwt';
import { GraphQLError, buildSchema } from 'graphql';

const { values: options } = parseArgs({
  options: {
    engine: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    db: { type: 'string' },
    catalog: { type: 'string' },
    secret: { type: 'string' },
    workers: { type: 'string', default: '1' },
    'token-cache': { type: 'string', default: '4096' },
  },
});
const engine = options.engine;
if (engine !== 'mercurius' && engine !== 'apollo') fail('--engine must be mercurius or apollo');
if (!options.db) fail('--db PATH is required');
if (!options.secret) fail('--secret is required');
const workers = Number(options.workers);
if (!Number.isInteger(workers) || workers < 1) fail('--workers must be a positive integer');
const tokenCache = Number(options['token-cache']);

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(2);
}

// ---- the store ------------------------------------------------------------

// The shop's currency: USD, two decimal places, amounts as integer cents
// formatted as cartql formats them (src/domain/money.rs).
const EXPONENT = 2;
const SCALE = 10 ** EXPONENT;
const CURRENCY = 'USD';
// cartql's defaults (--max-quantity-per-line, --max-lines-per-cart).
const MAX_QUANTITY_PER_LINE = 999;
const MAX_LINES_PER_CART = 100;

function parseAmount(text) {
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(String(text));
  if (!match) throw new Error(`malformed price ${JSON.stringify(text)}`);
  return Number(match[1]) * SCALE + Number((match[2] ?? '').padEnd(EXPONENT, '0') || 0);
}

function formatAmount(minor) {
  const abs = Math.abs(minor);
  const sign = minor < 0 ? '-' : '';
  return `${sign}${Math.floor(abs / SCALE)}.${String(abs % SCALE).padStart(EXPONENT, '0')}`;
}

function openDatabase(path) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return db;
}

// Creates the tables and loads the catalog: once, before any worker starts.
function prepareDatabase() {
  const db = openDatabase(options.db);
  db.exec(`
    CREATE TABLE IF NOT EXISTS products (
      sku TEXT PRIMARY KEY,
      title TEXT NOT NULL,
      price INTEGER NOT NULL           -- cents
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS carts (
      owner TEXT NOT NULL,
      name TEXT NOT NULL,
      version INTEGER NOT NULL,
      PRIMARY KEY (owner, name)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS cart_lines (
      owner TEXT NOT NULL,
      name TEXT NOT NULL,
      sku TEXT NOT NULL,
      quantity INTEGER NOT NULL,
      seq INTEGER NOT NULL,            -- lines in the order first added
      PRIMARY KEY (owner, name, sku)
    ) WITHOUT ROWID;
  `);
  if (options.catalog) {
    const products = JSON.parse(readFileSync(options.catalog, 'utf8'));
    const insert = db.prepare(
      'INSERT INTO products (sku, title, price) VALUES (?, ?, ?) ' +
      'ON CONFLICT (sku) DO UPDATE SET title = excluded.title, price = excluded.price');
    db.transaction(() => {
      for (const product of products) insert.run(product.sku, product.title, parseAmount(product.price));
    })();
  }
  db.close();
}

function openStore() {
  const db = openDatabase(options.db);
  // One statement, so one snapshot: the cart's version and its lines priced
  // at the current prices.
  const readCart = db.prepare(`
    SELECT c.version AS version, l.sku AS sku, l.quantity AS quantity, p.price AS price
    FROM carts c
    LEFT JOIN cart_lines l ON l.owner = c.owner AND l.name = c.name
    LEFT JOIN products p ON p.sku = l.sku
    WHERE c.owner = ? AND c.name = ?
    ORDER BY l.seq`);
  const readVersion = db.prepare('SELECT version FROM carts WHERE owner = ? AND name = ?').pluck();
  const readLineForAdd = db.prepare(`
    SELECT p.price AS price, l.quantity AS quantity
    FROM products p
    LEFT JOIN cart_lines l ON l.owner = ? AND l.name = ? AND l.sku = p.sku
    WHERE p.sku = ?`);
  const countLines = db.prepare('SELECT count(*) FROM cart_lines WHERE owner = ? AND name = ?').pluck();
  const upsertLine = db.prepare(`
    INSERT INTO cart_lines (owner, name, sku, quantity, seq)
    VALUES (?, ?, ?, ?, coalesce((SELECT max(seq) + 1 FROM cart_lines WHERE owner = ? AND name = ?), 0))
    ON CONFLICT (owner, name, sku) DO UPDATE SET quantity = quantity + excluded.quantity`);
  const bumpVersion = db.prepare(`
    INSERT INTO carts (owner, name, version) VALUES (?, ?, 1)
    ON CONFLICT (owner, name) DO UPDATE SET version = version + 1
    RETURNING version`).pluck();

  const userError = (code, field, message) => ({ userErrors: [{ code, field, message }] });

  // One transaction, taking the write lock at BEGIN: check the version,
  // read each product's price and the line's quantity, upsert the lines,
  // bump the version. Refusals write nothing.
  const addLines = db.transaction((owner, name, lines, expectedVersion) => {
    if (expectedVersion != null) {
      const version = readVersion.get(owner, name) ?? 0;
      if (version !== expectedVersion) {
        return userError('VERSION_CONFLICT', ['expectedVersion'], `the cart is at version ${version}`);
      }
    }
    const wanted = new Map();
    for (const [i, line] of lines.entries()) {
      if (line.quantity < 1) return userError('INVALID_QUANTITY', ['lines', String(i), 'quantity'], 'at least 1');
      wanted.set(line.sku, (wanted.get(line.sku) ?? 0) + line.quantity);
    }
    let newLines = 0;
    for (const [sku, quantity] of wanted) {
      const row = readLineForAdd.get(owner, name, sku);
      const i = String(lines.findIndex((line) => line.sku === sku));
      if (row === undefined) return userError('UNKNOWN_SKU', ['lines', i, 'sku'], `no product has SKU ${sku}`);
      if ((row.quantity ?? 0) + quantity > MAX_QUANTITY_PER_LINE) {
        return userError('INVALID_QUANTITY', ['lines', i, 'quantity'], `at most ${MAX_QUANTITY_PER_LINE} per line`);
      }
      if (row.quantity == null) newLines += 1;
    }
    if (newLines > 0 && countLines.get(owner, name) + newLines > MAX_LINES_PER_CART) {
      return userError('CART_LIMIT_EXCEEDED', ['lines'], `at most ${MAX_LINES_PER_CART} lines in a cart`);
    }
    for (const [sku, quantity] of wanted) upsertLine.run(owner, name, sku, quantity, owner, name);
    return { version: bumpVersion.get(owner, name), userErrors: [] };
  });

  return {
    // The cart as the `Cart` type shows it: lines priced now, totals.
    cart(owner, name) {
      const rows = readCart.all(owner, name);
      if (rows.length === 0) return priced(name, 0, []);
      return priced(name, rows[0].version, rows[0].sku === null ? [] : rows);
    },
    add(owner, name, lines, expectedVersion) {
      const result = addLines.immediate(owner, name, lines, expectedVersion);
      if (result.userErrors.length > 0) return { cart: null, userErrors: result.userErrors };
      // The payload's cart: the new version at once; its lines (when a client
      // asks for them) are read after the commit.
      const store = this;
      let read = null;
      const full = () => (read ??= store.cart(owner, name));
      return {
        cart: {
          name,
          version: result.version,
          lines: () => full().lines,
          totalQuantity: () => full().totalQuantity,
          subtotal: () => full().subtotal,
        },
        userErrors: [],
      };
    },
  };
}

const money = (minor) => ({ amount: formatAmount(minor), currencyCode: CURRENCY });

function priced(name, version, rows) {
  let subtotal = 0;
  let totalQuantity = 0;
  const lines = rows.map((row) => {
    const unit = row.price ?? 0;
    const total = unit * row.quantity;
    subtotal += total;
    totalQuantity += row.quantity;
    return { sku: row.sku, quantity: row.quantity, unitPrice: money(unit), lineTotal: money(total) };
  });
  return { name, version, lines, totalQuantity, subtotal: money(subtotal) };
}

// ---- the schema: cartql's types, cut to the fields the benchmark uses ------

const typeDefs = /* GraphQL */ `
  scalar Decimal

  type Money {
    amount: Decimal!
    currencyCode: String!
  }

  type CartLine {
    sku: String!
    quantity: Int!
    unitPrice: Money!
    lineTotal: Money!
  }

  type Cart {
    name: String!
    version: Int!
    lines: [CartLine!]!
    totalQuantity: Int!
    subtotal: Money!
  }

  input CartLineInput {
    sku: String!
    quantity: Int!
  }

  input AddCartLinesInput {
    cart: String! = "default"
    lines: [CartLineInput!]!
    expectedVersion: Int
  }

  enum UserErrorCode {
    VERSION_CONFLICT
    UNKNOWN_SKU
    INVALID_QUANTITY
    CART_LIMIT_EXCEEDED
  }

  type UserError {
    code: UserErrorCode!
    field: [String!]!
    message: String!
  }

  type CartPayload {
    cart: Cart
    userErrors: [UserError!]!
  }

  type Query {
    cart(name: String! = "default"): Cart!
  }

  type Mutation {
    addCartLines(input: AddCartLinesInput!): CartPayload!
  }
`;

function owner(context) {
  if (!context.viewer) {
    throw new GraphQLError('sign in first: send a bearer token', { extensions: { code: 'UNAUTHENTICATED' } });
  }
  return context.viewer;
}

// One executable schema for both engines: buildSchema's Decimal passes the
// formatted strings through; resolvers are set on the fields.
function makeSchema(store) {
  const schema = buildSchema(typeDefs);
  schema.getQueryType().getFields().cart.resolve = (_, args, context) => store.cart(owner(context), args.name);
  schema.getMutationType().getFields().addCartLines.resolve = (_, { input }, context) =>
    store.add(owner(context), input.cart, input.lines, input.expectedVersion);
  return schema;
}

// ---- tokens ---------------------------------------------------------------

function makeViewer() {
  const verify = createVerifier({
    key: options.secret,
    algorithms: ['HS256'],
    allowedIss: 'cartql',
    requiredClaims: ['exp', 'sub', 'iss'],
    cache: tokenCache > 0 ? tokenCache : false,
  });
  // The owner a request speaks for: null without a token; a bad token fails
  // the request (as cartql answers 401).
  return (authorization) => {
    if (!authorization) return null;
    const token = authorization.startsWith('Bearer ') ? authorization.slice(7) : authorization;
    try {
      return verify(token).sub;
    } catch (error) {
      throw new GraphQLError(`invalid token: ${error.message}`, { extensions: { code: 'UNAUTHENTICATED' } });
    }
  };
}

// ---- the servers ----------------------------------------------------------

async function serve() {
  const schema = makeSchema(openStore());
  const viewerOf = makeViewer();
  const port = Number(options.port);
  if (engine === 'mercurius') {
    const { default: Fastify } = await import('fastify');
    const { default: mercurius } = await import('mercurius');
    const app = Fastify({ logger: false });
    app.register(mercurius, {
      schema,
      path: '/graphql',
      jit: 1, // compile each query with graphql-jit from its first use
      graphiql: false,
      context: (request) => ({ viewer: viewerOf(request.headers.authorization) }),
    });
    await app.listen({ port, host: options.host });
    return app.server.address().port;
  }
  const { ApolloServer } = await import('@apollo/server');
  const { startStandaloneServer } = await import('@apollo/server/standalone');
  const server = new ApolloServer({ schema });
  const { url } = await startStandaloneServer(server, {
    listen: { port, host: options.host },
    context: async ({ req }) => ({ viewer: viewerOf(req.headers.authorization) }),
  });
  return Number(new URL(url).port);
}

function announce(port) {
  console.log(`${engine} listening on http://${options.host}:${port}`);
}

if (cluster.isPrimary) {
  prepareDatabase();
  if (workers === 1) {
    announce(await serve());
  } else {
    // node:cluster: the workers share the listening socket (the primary
    // hands connections out round-robin).
    let listening = 0;
    let stopping = false;
    for (let i = 0; i < workers; i++) cluster.fork();
    cluster.on('message', (_, message) => {
      if (message?.listening !== undefined && ++listening === workers) announce(message.listening);
    });
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      console.error(`error: worker ${worker.process.pid} exited (${signal ?? code})`);
      stopping = true;
      for (const other of Object.values(cluster.workers)) other.process.kill();
      process.exit(1);
    });
    const stop = () => {
      stopping = true;
      for (const worker of Object.values(cluster.workers)) worker.process.kill();
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  }
} else {
  const port = await serve();
  process.send({ listening: port });
}
