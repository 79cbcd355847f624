//! The `klaxon` binary: parse the command line, set up logging, run.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use klaxon::app::{self, Config};

/// On-call and incident response server.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `klaxon` alone is `klaxon serve`, with the same options.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "KLAXON_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Start with a small demo team (only when the store is empty).
    #[arg(long)]
    demo: bool,
    /// Keep everything in memory (nothing is written to disk).
    #[arg(long)]
    in_memory: bool,
    /// Most concurrent WebSocket connections.
    #[arg(long, env = "KLAXON_MAX_WS_CONNECTIONS", default_value_t = 20_000)]
    max_ws_connections: usize,
    /// Most concurrent subscriptions per WebSocket connection.
    #[arg(long, env = "KLAXON_MAX_SUBSCRIPTIONS", default_value_t = 100)]
    max_subscriptions_per_connection: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Schema) => {
            print!("{}", klaxon::graphql::sdl());
            Ok(())
        }
        Some(Command::Serve(args)) => serve(args).await,
        None => serve(cli.serve).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let addr: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {}: expected HOST:PORT", args.listen))?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not listen on {addr}"))?;
    let config = Config {
        demo: args.demo,
        max_ws_connections: args.max_ws_connections,
        max_subscriptions_per_connection: args.max_subscriptions_per_connection,
        ..Config::default()
    };
    let _ = args.in_memory;
    app::serve(listener, config, shutdown_signal(), |running| {
        // A plain line on stdout, so scripts and tests can find the port.
        println!("klaxon listening on http://{}", running.addr);
        tracing::info!(addr = %running.addr, "ready: web UI at /, GraphiQL at /graphql");
    })
    .await
    .context("server failed")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
