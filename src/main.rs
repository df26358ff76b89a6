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
    /// Run reconciler passes: verify, hide, decide purges, notify the app.
    Reconcile {
        /// Run one pass and print what it did.
        #[arg(long)]
        once: bool,
        /// Pretend it is this time (RFC 3339), for tests and dry runs.
        #[arg(long, requires = "once")]
        now: Option<String>,
        /// Print what the pass would do; change nothing, call nobody.
        #[arg(long, requires = "once")]
        dry_run: bool,
    },
    /// Retention policies per site, product and object type.
    Policies {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Review purge decisions: list, show, approve, hold, keep.
    Decisions {
        #[command(subcommand)]
        action: DecisionAction,
    },
    /// Sign event files as a Connect tenant and post them to a running aarc.
    Send {
        /// JSON bodies to send (`-` reads standard input); several are sent in order.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// The Connect tenant's clientKey: its shared secret signs the requests.
        #[arg(long)]
        tenant: String,
        /// aarc's base URL or webhook URL (default: the AARC_LISTEN address).
        #[arg(long)]
        url: Option<String>,
        /// Content-Type to send (default: from the body's shape).
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Exit 0 when a running aarc answers /readyz (for container health checks).
    Healthcheck {
        /// aarc's base URL (default: the AARC_LISTEN address).
        #[arg(long)]
        url: Option<String>,
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
enum PolicyAction {
    /// Set the policy of one (product, type) on a site.
    Set {
        #[arg(long)]
        site: String,
        #[arg(long)]
        product: String,
        #[arg(long = "type")]
        object_type: String,
        /// keep, hide or purge
        #[arg(long)]
        action: String,
        /// e.g. 30d (default: AARC_DEFAULT_GRACE)
        #[arg(long)]
        grace: Option<String>,
        /// required or auto (default: AARC_DEFAULT_REVIEW)
        #[arg(long)]
        review: Option<String>,
    },
    /// Show a site's policies and the default.
    List {
        #[arg(long)]
        site: String,
    },
}

#[derive(Subcommand)]
enum DecisionAction {
    /// Decisions, newest first.
    List {
        /// pending_review, held, kept, purging, purged or cancelled
        #[arg(long)]
        state: Option<String>,
        /// Only this site (cloudId).
        #[arg(long)]
        site: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One decision with its objects and audit trail.
    Show {
        id: String,
        /// How many of its objects to print.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Purge the decision's objects now (the app is told to purge).
    Approve(ActArgs),
    /// Keep the decision waiting.
    Hold(ActArgs),
    /// Never purge these objects in this block cycle; they stay hidden.
    Keep(ActArgs),
}

#[derive(clap::Args)]
struct ActArgs {
    id: String,
    /// Why: recorded in the audit log with your name.
    #[arg(long)]
    reason: String,
    /// Who is acting (default: $USER); recorded as `cli:<name>`.
    #[arg(long, env = "USER", default_value = "unknown")]
    operator: String,
    #[arg(long)]
    json: bool,
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

fn main() {
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
    // The HTTP threads run runtimes of their own (actix); this one runs the
    // writers and the background work, `AARC_WORKER_THREADS` threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli, config)),
        Err(e) => {
            eprintln!("aarc: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(cli: Cli, config: Config) {
    let result = match cli.command {
        Command::Serve => commands::serve(config).await,
        Command::Migrate => commands::migrate(&config).await,
        Command::Openapi => Ok(()),
        Command::Reconcile { once: false, .. } => commands::reconcile_forever(config).await,
        Command::Reconcile {
            once: true,
            now,
            dry_run,
        } => match now.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
            Some(Err(e)) => Err(aarc::Error::invalid(format!(
                "--now must be an RFC 3339 time: {e}"
            ))),
            parsed => {
                let now = parsed.map(|p| p.expect("checked above").with_timezone(&chrono::Utc));
                commands::reconcile_once(config, now, dry_run).await
            }
        },
        Command::Policies { action } => match action {
            PolicyAction::Set {
                site,
                product,
                object_type,
                action,
                grace,
                review,
            } => {
                let input = aarc::http::policies::PolicyInput {
                    product,
                    object_type,
                    action,
                    grace,
                    review,
                };
                commands::policies::set(&config, &site, input).await
            }
            PolicyAction::List { site } => commands::policies::list(&config, &site).await,
        },
        Command::Decisions { action } => match action {
            DecisionAction::List {
                state,
                site,
                limit,
                json,
            } => {
                commands::decisions::list(&config, state.as_deref(), site.as_deref(), limit, json)
                    .await
            }
            DecisionAction::Show { id, limit, json } => {
                commands::decisions::show(&config, &id, limit, json).await
            }
            DecisionAction::Approve(a) => act(&config, "approve", a).await,
            DecisionAction::Hold(a) => act(&config, "hold", a).await,
            DecisionAction::Keep(a) => act(&config, "keep", a).await,
        },
        Command::Send {
            files,
            tenant,
            url,
            content_type,
        } => {
            let args = commands::send::SendArgs {
                files,
                tenant,
                url,
                content_type,
            };
            commands::send::send(&config, args).await
        }
        Command::Healthcheck { url } => commands::healthcheck(&config, url.as_deref()).await,
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

async fn act(config: &Config, action: &str, a: ActArgs) -> Result<(), aarc::Error> {
    commands::decisions::act(config, &a.id, action, &a.reason, &a.operator, a.json).await
}

/// jemalloc rather than glibc's allocator: a webhook is parsed on an HTTP
/// thread and its events freed on a writer's, and glibc spent a fifth of the
/// HTTP thread's time in malloc and free. In the ingest benchmark the same
/// code with glibc's allocator did 0.90x the events per second (a second
/// copy of the jemalloc build, 1.04x), peak RSS 47 MiB either way.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
