//! The `cartql` binary: everything lives in the library; see `cartql --help`.

fn main() -> std::process::ExitCode {
    cartql::cli::main()
}
