//! `dash`: the DASH server binary.
//!
//! `dash serve` runs the HTTP service; `dash mcp` serves the Model Context Protocol on stdio;
//! `dash audit verify FILE` checks an audit log's chain.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dash_server::audit::{verify, VerifyReport};
use dash_server::mcp::McpArgs;
use dash_server::{ServeArgs, ServeConfig, Server};

#[derive(Parser)]
#[command(
    name = "dash",
    version,
    about = "DASH: evidence-first memory engine server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(Box<ServeArgs>),
    /// Serve DASH as an MCP (Model Context Protocol) server on stdin/stdout: the tools
    /// remember, recall, history and forget, on a store directory or a running `dash serve`.
    ///
    /// Examples:
    ///   dash mcp --data-dir ~/.dash
    ///   dash mcp --url http://127.0.0.1:7700 --api-key "$DASH_API_KEY" --tenant notes
    #[command(verbatim_doc_comment)]
    Mcp(Box<McpArgs>),
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain of an audit log: prints "ok N records" or the first broken line.
    Verify {
        /// The audit log file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    // candle (the embedder's tensors) asks the CPU count of /proc at every matrix product
    // unless rayon's thread count is set: set it once, before any thread exists.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        std::env::set_var("RAYON_NUM_THREADS", cpus.to_string());
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Audit {
            command: AuditCommand::Verify { file },
        } => match verify(&file) {
            Ok(VerifyReport::Ok { records }) => {
                println!("ok {records} records");
                ExitCode::SUCCESS
            }
            Ok(VerifyReport::Broken { line, reason }) => {
                println!("broken at line {line}: {reason}");
                ExitCode::from(1)
            }
            Err(err) => {
                eprintln!("dash audit verify: {err}");
                ExitCode::from(2)
            }
        },
        Command::Serve(args) => serve(*args),
        Command::Mcp(args) => mcp(*args),
    }
}

fn mcp(args: McpArgs) -> ExitCode {
    // stdout carries the protocol: logs go to stderr (init_logging), and only warnings by
    // default, so a client's log window is not flooded.
    if std::env::var_os("DASH_LOG").is_none() && std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("DASH_LOG", "warn");
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dash-mcp")
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("dash mcp: cannot start the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dash_server::mcp::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err @ dash_server::mcp::McpError::Config(_)) => {
            eprintln!("dash mcp: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("dash mcp: {err}");
            ExitCode::from(1)
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let config = match ServeConfig::from_args(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("dash serve: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dash-http")
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("dash serve: cannot start the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        let server = Server::bind(config).await?;
        // The one line on stdout: scripts and tests read the bound address from it.
        println!("dash listening on {}", server.local_addr());
        server.run(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A model folder that does not load is a configuration error, as a bad setting is.
        Err(err @ dash_server::ServeError::Embedder(_)) => {
            eprintln!("dash serve: invalid configuration: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            tracing::error!(error = %err, "server stopped with an error");
            eprintln!("dash serve: {err}");
            ExitCode::from(1)
        }
    }
}

/// Structured JSON logs on stderr; `DASH_LOG` (or `RUST_LOG`) sets the filter.
fn init_logging() {
    let filter = std::env::var("DASH_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves at SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
