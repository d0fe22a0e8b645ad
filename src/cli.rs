//! The command line: parse, dispatch, report errors as one line.

use crate::auth::{self, TokenKeys, ViewerKind};
use crate::config::{Cli, Command, ImportArgs, RevokeArgs, RevokeKind, ServeConfig, TokenArgs};
use crate::server::Application;
use crate::store::sled::{Durability, SledStore};
use crate::store::{CatalogStore, IdentityStore, Store};
use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

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

fn serve(config: ServeConfig) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CARTQL_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    runtime()?.block_on(async {
        let app = Application::build(&config).await.map_err(|e| e.to_string())?;
        // Registered before the address is announced, so a SIGTERM sent right
        // after is a graceful shutdown rather than the default abrupt exit.
        let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
        let addr = app.local_addr().map_err(|e| e.to_string())?;
        // Tests and scripts read this line to find the port.
        println!("cartql listening on http://{addr}");
        tracing::info!(%addr, data_dir = %config.store.data_dir.display(), "serving; playground at /");
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
    let (secret, _) =
        auth::secret::resolve(args.store.jwt_secret.as_deref(), &args.store.data_dir)?;
    let keys = TokenKeys::from_secret(&secret)?;
    let kind = if args.guest {
        ViewerKind::Guest
    } else {
        ViewerKind::Customer
    };
    let ttl = chrono::Duration::from_std(args.ttl).map_err(|e| format!("--ttl: {e}"))?;
    let (token, _) = keys
        .issue(&args.subject, kind, &args.roles, ttl)
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
    let dir = &args.store.data_dir;
    crate::store::data_dir::prepare(dir).map_err(|e| format!("--data-dir: {e}"))?;
    if !dir.join("db").exists() {
        return Err(format!(
            "--data-dir: {} holds no cartql database",
            dir.display()
        ));
    }
    let valid_after = runtime()?.block_on(async {
        let store = SledStore::open(dir, Durability::Strict).map_err(|e| {
            format!("--data-dir: {e} (while the server runs, use the revokeTokens admin mutation)")
        })?;
        let now = chrono::Utc::now().timestamp();
        let valid_after = store
            .log_out_everywhere(&owner, now)
            .await
            .map_err(|e| e.to_string())?;
        store.close().await.map_err(|e| e.to_string())?;
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
    let products =
        crate::catalog_file::parse(&text, &args.currency).map_err(|e| format!("{file}: {e}"))?;
    runtime()?.block_on(async {
        crate::store::data_dir::prepare(&args.store.data_dir)
            .map_err(|e| format!("--data-dir: {e}"))?;
        let store = SledStore::open(&args.store.data_dir, Durability::Strict)
            .map_err(|e| format!("--data-dir: {e}"))?;
        store
            .pin_currency(args.currency.code())
            .await
            .map_err(|e| format!("--currency: {e}"))?;
        store
            .import_products(&products)
            .await
            .map_err(|e| e.to_string())?;
        store.close().await.map_err(|e| e.to_string())
    })?;
    println!("imported {} products from {file}", products.len());
    Ok(())
}
