//! The command line: parse, dispatch, report errors as one line.

use crate::auth::{self, TokenKeys, ViewerKind};
use crate::config::{LogFormat, ServeConfig, StoreConfig, parse_lifetime};
use crate::domain::Currency;
use crate::server::Application;
use crate::store::backend::Backend;
use crate::store::sled::Durability;
use tracing_subscriber::Layer;

use clap::Parser;
use clap::{Args, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// cartql: a self-hosted shopping-cart service with a GraphQL API.
#[derive(Parser, Debug)]
#[command(
    name = "cartql",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for `serve` when no command is given.
    #[command(flatten)]
    pub serve: ServeConfig,
}

/// The commands.
#[derive(Subcommand, Debug)]
// Parsed once at start; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeConfig),
    /// Print the GraphQL schema (SDL) the server exports.
    Schema,
    /// Print a token the server accepts, signed with its key.
    Token(TokenArgs),
    /// Revoke every token of one viewer issued until now ("log out
    /// everywhere" for them), e.g. a stolen admin token. The server must be
    /// stopped (sled allows one process); while it runs, use the
    /// `revokeTokens` admin mutation.
    Revoke(RevokeArgs),
    /// Load products from a JSON file into the catalog (with sled the server
    /// must be stopped).
    ImportCatalog(ImportArgs),
    /// Write the whole store (catalog, carts, orders, accounts, revocation
    /// and idempotency records) as JSON lines, one consistent snapshot: the
    /// backup, and the way from one backend to the other. PostgreSQL may be
    /// serving meanwhile; a sled data directory must not be (one process).
    Export(ExportArgs),
    /// Load an export into an empty store of either backend, all or nothing.
    Import(ImportStoreArgs),
    /// Check the invariants of a store (or of an export file, with
    /// `--input`) and print what it holds: stock never negative, orders
    /// that add up, idempotency keys that point at their orders, webhook
    /// deliveries whose events are kept; cart lines of SKUs the catalog lacks
    /// are counted. Exits non-zero when an invariant is broken. A sled data
    /// directory must not be serving (one process).
    Verify(VerifyArgs),
}

/// `cartql verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Check this export file (`-` reads stdin) instead of the store.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreConfig,
}

/// `cartql export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write here (created private, replaced only once complete) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreConfig,
}

/// `cartql import`.
#[derive(Args, Debug)]
pub struct ImportStoreArgs {
    /// The export file (JSON lines from `cartql export`); `-` reads stdin.
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreConfig,
}

/// `cartql token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The viewer id the token speaks for.
    #[arg(long, value_name = "ID")]
    pub subject: String,
    /// A role to grant (repeatable), e.g. `--role admin`.
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// Lifetime, e.g. `1h`, `30m`, `7d`.
    #[arg(long, default_value = "1h", value_parser = parse_lifetime)]
    pub ttl: Duration,
    /// Issue a guest token instead of a customer token.
    #[arg(long)]
    pub guest: bool,
    #[command(flatten)]
    pub store: StoreConfig,
}

/// `cartql revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The viewer id (the tokens' `sub`).
    #[arg(long, value_name = "ID")]
    pub subject: String,
    /// Whose tokens: a customer's (the default), a guest's, or a customer's of
    /// the external identity provider.
    #[arg(long, value_enum, default_value = "customer")]
    pub kind: RevokeKind,
    #[command(flatten)]
    pub store: StoreConfig,
}

/// The kinds of token owner `cartql revoke` names.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeKind {
    /// A customer of the built-in issuer.
    Customer,
    /// A guest.
    Guest,
    /// A customer of the external identity provider.
    External,
}

/// `cartql import-catalog`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The JSON file: a list of {sku, title, price, stock?, active?}.
    pub file: PathBuf,
    /// Currency the file's prices are in; must match the data directory's.
    #[arg(long, env = "CARTQL_CURRENCY", default_value = "USD", value_name = "CODE", value_parser = Currency::parse)]
    pub currency: Currency,
    #[command(flatten)]
    pub store: StoreConfig,
}

/// Runs the command the arguments ask for.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::store::data_dir::restrict_new_files();
    let result = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(config)) => serve(config),
        Some(Command::Schema) => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Some(Command::Token(args)) => token(args),
        Some(Command::Revoke(args)) => revoke(args),
        Some(Command::ImportCatalog(args)) => import_catalog(args),
        Some(Command::Export(args)) => export(args),
        Some(Command::Import(args)) => import(args),
        Some(Command::Verify(args)) => verify(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// The log lines' layer: text (coloured on a terminal) or JSON lines. In
/// JSON the spans come as a list with their fields, so a line logged inside
/// a request names its `graphql` span's `request_id`, the id the client saw
/// in `extensions.requestId`.
fn log_layer<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::prelude::*;
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(writer)
            .boxed(),
    }
}

fn serve(config: ServeConfig) -> Result<(), String> {
    use tracing_subscriber::prelude::*;
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("CARTQL_LOG").unwrap_or_else(|_| "info".into());
    let logs = log_layer(
        config.log_format,
        std::io::stderr,
        std::io::stderr().is_terminal(),
    )
    .with_filter(filter);
    // Store timings for /metrics, whatever CARTQL_LOG lets through.
    let timings = config
        .metrics_listen
        .is_some()
        .then(crate::metrics::StoreTimings::layer);
    tracing_subscriber::registry()
        .with(logs)
        .with(timings)
        .init();
    runtime()?.block_on(async {
        let app = Application::build(&config).await.map_err(|e| e.to_string())?;
        // Registered before the address is announced, so a SIGTERM sent right
        // after is a graceful shutdown rather than the default abrupt exit.
        let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
        let addr = app.local_addr().map_err(|e| e.to_string())?;
        // Tests and scripts read this line to find the port. Written, not
        // printed: a closed stdout (`cartql | head -1`) must not stop the server.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "cartql listening on http://{addr}");
        if let Some(metrics) = app.metrics_addr() {
            let _ = writeln!(out, "cartql metrics on http://{metrics}/metrics");
        }
        let _ = out.flush();
        match &config.store.database_url {
            Some(_) => tracing::info!(%addr, "serving from PostgreSQL; playground at /"),
            None => tracing::info!(%addr, data_dir = %config.store.data_dir.display(), "serving; playground at /"),
        }
        app.run_until_stopped(shutdown_signal(terminate)).await.map_err(|e| e.to_string())
    })
}

async fn shutdown_signal(mut terminate: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutting down");
}

fn token(args: TokenArgs) -> Result<(), String> {
    auth::install_crypto();
    // With --database-url the instances sign with CARTQL_JWT_SECRET; a key
    // generated into the data directory here would sign tokens none accepts.
    let (secret, _) = crate::start::signing_secret(&args.store)?;
    let keys = TokenKeys::from_secret(&secret)?;
    let kind = if args.guest {
        ViewerKind::Guest
    } else {
        ViewerKind::Customer
    };
    let ttl = chrono::Duration::from_std(args.ttl).map_err(|e| format!("--ttl: {e}"))?;
    let (token, _) = keys
        .issue(
            &args.subject,
            kind,
            &args.roles,
            ttl,
            chrono::Utc::now().timestamp(),
        )
        .map_err(|e| format!("--subject/--ttl: {e}"))?;
    println!("{token}");
    Ok(())
}

fn revoke(args: RevokeArgs) -> Result<(), String> {
    auth::token::check_subject(&args.subject).map_err(|e| format!("--subject: {e}"))?;
    let (issuer, kind) = match args.kind {
        RevokeKind::Customer => (auth::Issuer::BuiltIn, ViewerKind::Customer),
        RevokeKind::Guest => (auth::Issuer::BuiltIn, ViewerKind::Guest),
        RevokeKind::External => (auth::Issuer::External, ViewerKind::Customer),
    };
    let owner = auth::owner_key(issuer, kind, &args.subject);
    let location = crate::start::location(&args.store, Durability::Strict, true)?;
    let dir = &args.store.data_dir;
    if args.store.database_url.is_none() && !dir.join("db").exists() {
        return Err(format!(
            "--data-dir: {} holds no cartql database",
            dir.display()
        ));
    }
    let valid_after = runtime()?.block_on(async {
        let backend = Backend::open(&location).await.map_err(|e| {
            format!("{e} (while a sled server runs, use the revokeTokens admin mutation)")
        })?;
        let now = chrono::Utc::now().timestamp();
        let valid_after = backend
            .store()
            .log_out_everywhere(&owner, now)
            .await
            .map_err(|e| e.to_string())?;
        backend.close().await?;
        Ok::<_, String>(valid_after)
    })?;
    println!(
        "revoked every token of {} issued before {}",
        owner.as_str(),
        chrono::DateTime::from_timestamp(valid_after, 0).unwrap_or_default()
    );
    Ok(())
}

fn import_catalog(args: ImportArgs) -> Result<(), String> {
    let file = args.file.display().to_string();
    let meta = std::fs::metadata(&args.file).map_err(|e| format!("{file}: {e}"))?;
    if meta.len() > crate::catalog_file::MAX_FILE_BYTES {
        return Err(format!(
            "{file}: larger than {} bytes",
            crate::catalog_file::MAX_FILE_BYTES
        ));
    }
    let text = std::fs::read_to_string(&args.file).map_err(|e| format!("{file}: {e}"))?;
    let catalog =
        crate::catalog_file::parse(&text, &args.currency).map_err(|e| format!("{file}: {e}"))?;
    runtime()?.block_on(async {
        let backend = crate::start::open_store(&args.store, Durability::Strict, false).await?;
        let store = backend.store();
        store
            .pin_currency(args.currency.code())
            .await
            .map_err(|e| format!("--currency: {e}"))?;
        store
            .import_catalog(&catalog.records, &catalog.variants)
            .await
            .map_err(|e| e.to_string())?;
        backend.close().await
    })?;
    println!(
        "imported {} products ({} variants) from {file}",
        catalog.records.len(),
        catalog.variants.len()
    );
    Ok(())
}

fn export(args: ExportArgs) -> Result<(), String> {
    let records = runtime()?.block_on(async {
        let backend = crate::start::open_store(&args.store, Durability::Strict, false).await?;
        let records = match &args.output {
            None => {
                backend
                    .export(std::io::BufWriter::new(std::io::stdout()))
                    .await
            }
            Some(path) => export_to_file(&backend, path).await,
        };
        backend.close().await?;
        records
    })?;
    eprintln!("exported {records} records");
    Ok(())
}

/// Writes to `<path>.partial`, then renames (fsynced before and after, see
/// [`crate::store::files`]): `path` is only ever complete, even after a
/// power cut.
async fn export_to_file(backend: &Backend, path: &std::path::Path) -> Result<u64, String> {
    let shown = path.display();
    let failed = |e: std::io::Error| format!("--output {shown}: {e}");
    let file = crate::store::files::AtomicFile::create(path).map_err(failed)?;
    let mut out = std::io::BufWriter::new(file);
    // On an error the temporary file is dropped, which removes it.
    let records = backend.export(&mut out).await?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.commit().map_err(failed)?;
    Ok(records)
}

/// The records of an export file (`-`: stdin), whole and checked.
fn read_export(path: &std::path::Path) -> Result<Vec<crate::store::snapshot::Record>, String> {
    let shown = path.display().to_string();
    if shown == "-" {
        crate::store::snapshot::read(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
        crate::store::snapshot::read(std::io::BufReader::new(file))
    }
    .map_err(|e| format!("{shown}: {e}"))
}

fn verify(args: VerifyArgs) -> Result<(), String> {
    use crate::store::verify::Verification;
    let verification = match &args.input {
        Some(path) => Verification::of(read_export(path)?),
        None => runtime()?.block_on(async {
            let backend = crate::start::open_store(&args.store, Durability::Strict, false).await?;
            let mut verification = Verification::default();
            let visited = backend
                .visit(&mut |record| {
                    verification.add(record);
                    Ok(())
                })
                .await;
            let structure = backend.structure_problems().await;
            backend.close().await?;
            visited?;
            for problem in structure? {
                verification.add_problem(problem);
            }
            verification.finish();
            Ok::<_, String>(verification)
        })?,
    };
    print!("{}", verification.report());
    match verification.holds() {
        true => Ok(()),
        false => Err(format!(
            "{} broken invariants (listed above)",
            verification.problem_count
        )),
    }
}

fn import(args: ImportStoreArgs) -> Result<(), String> {
    let shown = args.file.display().to_string();
    let records = read_export(&args.file)?;
    runtime()?.block_on(async {
        let backend = crate::start::open_store(&args.store, Durability::Strict, false).await?;
        let result = backend.import(&records).await;
        backend.close().await?;
        result
    })?;
    eprintln!("imported {} records from {shown}", records.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// What a layer wrote, for a test.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_log_lines_name_the_request_they_were_logged_in() {
        use tracing_subscriber::prelude::*;
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(log_layer(
            LogFormat::Json,
            move || writer.clone(),
            false,
        ));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("graphql", request_id = "01REQUEST", operation = "Cart");
            let _inside = span.enter();
            tracing::error!(error = "the disk is full", "a store call failed");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["target"], "cartql::cli::tests");
        assert_eq!(line["fields"]["message"], "a store call failed");
        assert_eq!(line["fields"]["error"], "the disk is full");
        assert_eq!(line["spans"][0]["name"], "graphql");
        assert_eq!(line["spans"][0]["request_id"], "01REQUEST");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
    }
}

/// The README's settings table must say what `--help` says.
#[cfg(test)]
mod readme {
    use super::*;
    use clap::CommandFactory;
    use std::collections::BTreeMap;

    /// `--flag` → (variable, default) from the README's settings table.
    fn readme_settings() -> BTreeMap<String, (String, String)> {
        let unquote = |cell: &str| cell.trim().trim_matches('`').to_string();
        include_str!("../README.md")
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').collect();
                let (flag, variable, default) = (cells.get(1)?, cells.get(2)?, cells.get(3)?);
                let flag = unquote(flag);
                let variable = unquote(variable);
                (flag.starts_with("--") && variable.starts_with("CARTQL_"))
                    .then(|| (flag, (variable, unquote(default))))
            })
            .collect()
    }

    /// The same from the command line definition of `serve`.
    fn command_settings() -> BTreeMap<String, (String, String)> {
        let command = Cli::command();
        let serve = command
            .get_subcommands()
            .find(|c| c.get_name() == "serve")
            .expect("a serve command");
        serve
            .get_arguments()
            .filter_map(|arg| {
                let flag = format!("--{}", arg.get_long()?);
                let variable = arg.get_env()?.to_string_lossy().into_owned();
                let defaults: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                Some((flag, (variable, defaults.join(","))))
            })
            .collect()
    }

    #[test]
    fn the_readme_lists_every_setting_with_its_variable_and_default() {
        let readme = readme_settings();
        let command = command_settings();
        let in_readme: Vec<&String> = readme.keys().collect();
        let in_help: Vec<&String> = command.keys().collect();
        assert_eq!(
            in_readme, in_help,
            "the README's flags differ from --help's"
        );
        for (flag, (variable, default)) in &command {
            let (readme_variable, readme_default) = &readme[flag];
            assert_eq!(readme_variable, variable, "{flag}");
            // Flags without a default are documented as none, off or generated.
            let documented = match default.as_str() {
                "" | "false" => ["none", "off", "generated"].contains(&readme_default.as_str()),
                default => readme_default == default,
            };
            assert!(
                documented,
                "{flag}: README says {readme_default}, --help {default:?}"
            );
        }
    }
}
