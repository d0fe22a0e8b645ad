/work/main/target-before/debug/deps/pkcs8-d64a517ac52869db.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/error.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/private_key_info.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/traits.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/version.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/../README.md

/work/main/target-before/debug/deps/libpkcs8-d64a517ac52869db.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/error.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/private_key_info.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/traits.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/version.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/../README.md

/work/main/target-before/debug/deps/libpkcs8-d64a517ac52869db.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/error.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/private_key_info.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/traits.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/version.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/../README.md

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/error.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/private_key_info.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/traits.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/version.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pkcs8-0.11.0/src/../README.md:
