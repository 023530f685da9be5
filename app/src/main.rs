//! The `echoflow` command: the whole platform in one process (`up`), one
//! service of the distributed deployment (`serve`), or the migrations.

mod data_dir;
mod integrations;
mod migrate;
mod openapi;
mod up;

use clap::{Parser, Subcommand, ValueEnum};
use echoflow_service_kit::serve_from_env;

/// jemalloc, with a background thread that hands freed pages back to the
/// system after a second (see .cargo/config.toml). With glibc's malloc the
/// process kept up to 85 MB of freed memory in its per-thread arenas after a
/// burst of requests (18 MB in use, 104 MB held, after the schemathesis run).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "echoflow", version, about = "AI chat and workflow automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every service in this process: SQLite files under --data-dir, the in-process bus, the API on --port.
    Up(up::UpArgs),
    /// Runs one service against PostgreSQL and RabbitMQ, configured by config files and ECHOFLOW_* variables.
    Serve {
        #[arg(value_enum)]
        service: Service,
    },
    /// Applies the migrations of every schema slice, then exits.
    Migrate(migrate::MigrateArgs),
    /// Maintenance of integration tokens: `reencrypt`, `rotate-key`.
    Integrations(integrations::IntegrationsArgs),
    /// Prints the API contract (the merged OpenAPI document, docs/openapi.json).
    Openapi(openapi::OpenapiArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Service {
    Gateway,
    WorkflowRegistry,
    Chat,
    Integrations,
    Executor,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up(args) => up::run(args).await,
        Command::Serve { service } => match service {
            Service::Gateway => serve_from_env::<echoflow_gateway::Application>().await,
            Service::WorkflowRegistry => {
                serve_from_env::<echoflow_workflow_registry::Application>().await
            }
            Service::Chat => serve_from_env::<echoflow_chat::Application>().await,
            Service::Integrations => serve_from_env::<echoflow_integrations::Application>().await,
            Service::Executor => serve_from_env::<echoflow_executor::Application>().await,
        },
        Command::Migrate(args) => migrate::run(args).await,
        Command::Integrations(args) => integrations::run(args).await,
        Command::Openapi(args) => openapi::run(args),
    }
}
