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
static ALLOCATOR: Allocator = Allocator;

/// mimalloc, its arenas committed as they are used instead of whole when
/// reserved (its option `arena_eager_commit` set to 0 before its first
/// allocation). On Linux it commits a new arena eagerly by default, and
/// the kernel then backs what is touched with huge pages: measured in
/// paired runs (BENCHMARKS.md, issue 24), the server's memory when ready
/// on a million carts fell from 165 to 135 MiB and its peak under cart
/// reads from 90 to 52 MiB with it off, at the same throughput.
pub struct Allocator;

/// mimalloc's `mi_option_arena_eager_commit` (the fifth of its options in
/// `mimalloc.h`, v2 and v3 alike; the crate names only some of them).
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Whether the options were set (before the first allocation).
static TUNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Allocator {
    #[inline]
    fn tune() {
        use std::sync::atomic::Ordering::Relaxed;
        if !TUNED.load(Relaxed) {
            // SAFETY: `mi_option_set` only stores the value in mimalloc's
            // option table (no allocation, no other state); two threads
            // racing here store the same value.
            unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
            TUNED.store(true, Relaxed);
        }
    }
}

// SAFETY: every call is mimalloc's own, with the caller's arguments.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        Allocator::tune();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        Allocator::tune();
        // SAFETY: as `alloc`.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator, as the caller promises.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `dealloc`.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}
