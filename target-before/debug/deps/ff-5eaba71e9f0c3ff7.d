/work/main/target-before/debug/deps/ff-5eaba71e9f0c3ff7.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/batch.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/helpers.rs

/work/main/target-before/debug/deps/libff-5eaba71e9f0c3ff7.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/batch.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/helpers.rs

/work/main/target-before/debug/deps/libff-5eaba71e9f0c3ff7.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/batch.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/helpers.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/batch.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ff-0.14.0/src/helpers.rs:
