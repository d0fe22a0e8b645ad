//! cartql: a self-hosted shopping-cart service.
//!
//! One binary serves a GraphQL API over an embedded sled database (or
//! PostgreSQL, for several instances) and keeps no session state: every request carries a bearer JWT, and the viewer is
//! rebuilt from it each time. The cart is a resource the mutations change.
//!
//! Data flows one way: HTTP → auth (token → [`auth::Viewer`]) → GraphQL
//! resolver → use case ([`app`]) → domain rule → store. Resolvers parse input
//! and shape answers; use cases own the steps of each operation; the store
//! never knows GraphQL.
//!
//! | module            | what lives there                                              |
//! |-------------------|---------------------------------------------------------------|
//! | [`cli`]           | the command line (`serve`, `schema`, `token`, `revoke`, `import-catalog`, `export`, `import`) |
//! | [`config`]        | every setting: flag + `CARTQL_*` variable, validated at parse |
//! | [`start`]         | start-up in one place: the signing key, where the store is, `Services::build` |
//! | [`services`]      | what resolvers use: store, settings, keys, hashing, clock     |
//! | [`clock`]         | the time, injectable in tests                                 |
//! | [`server`]        | axum router, layers, accept loop and its limits, shutdown     |
//! | [`auth`]          | claims, token issue/verify, keys, passwords, external issuer  |
//! | [`graphql`]       | schema roots and GraphQL types; thin resolvers                |
//! | [`app`]           | use cases: one function per operation (write rates, throttles, idempotent replays, the catalog read checks and answers share) |
//! | [`domain`]        | money, names, catalog and cart rules: pure, unit-tested       |
//! | [`store`]         | the only code that knows a database: sled or PostgreSQL; each backend starts and stops its own background work and throttle |
//! | [`catalog_file`]  | reading catalog JSON files (`import-catalog`, `--demo`)        |

pub mod app;
pub mod auth;
pub mod catalog_file;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod graphql;
pub mod metrics;
pub mod server;
pub mod services;
pub mod start;
pub mod store;

/// The allocator: mimalloc. A cart read allocates a few hundred small blocks
/// (the GraphQL document, its values, the response); with glibc's malloc,
/// allocating and freeing them was a quarter of the read's instructions
/// (callgrind, `scripts/instructions`). Set here, in the library, so the
/// binary, the examples and the tests all run on the allocator that ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
