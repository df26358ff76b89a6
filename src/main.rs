//! The `aarc` command line: parses arguments and calls into the library.

use clap::{Parser, Subcommand};

use aarc::config::Config;
use aarc::{commands, telemetry};

#[derive(Parser)]
#[command(
    name = "aarc",
    version,
    about = "App Access Rule consumer for Atlassian Cloud apps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the receiver, the APIs and the reconciler.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage Connect tenants (Forge tenants register themselves).
    Tenants {
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Print the OpenAPI 3.1 document of every route.
    Openapi,
    /// Control the self-managed PostgreSQL cluster (used when DATABASE_URL is unset).
    LocalDb {
        #[arg(value_parser = ["start", "stop", "status"])]
        action: String,
    },
}

#[derive(Subcommand)]
enum TenantAction {
    /// Add or update a Connect tenant.
    Add {
        #[arg(long)]
        client_key: String,
        #[arg(long)]
        shared_secret: String,
        #[arg(long)]
        base_url: String,
        #[arg(long)]
        cloud_id: String,
    },
    /// List tenants of both kinds (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Retire a Connect tenant: records kept, events refused.
    Remove { client_key: String },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        print!("{}", aarc::http::openapi::document());
        return;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aarc: configuration error: {e}");
            std::process::exit(2);
        }
    };
    telemetry::init(config.log_format);
    let result = match cli.command {
        Command::Serve => commands::serve(config).await,
        Command::Migrate => commands::migrate(&config).await,
        Command::Openapi => Ok(()),
        Command::LocalDb { action } => commands::local_db(&config, &action).await,
        Command::Tenants { action } => match action {
            TenantAction::Add {
                client_key,
                shared_secret,
                base_url,
                cloud_id,
            } => {
                commands::tenants::add(&config, &client_key, &shared_secret, &base_url, &cloud_id)
                    .await
            }
            TenantAction::List { json } => commands::tenants::list(&config, json).await,
            TenantAction::Remove { client_key } => {
                commands::tenants::remove(&config, &client_key).await
            }
        },
    };
    if let Err(e) = result {
        eprintln!("aarc: {e}");
        std::process::exit(1);
    }
}
