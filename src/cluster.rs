//! `retap cluster scheduler` and `retap cluster executor`: Apache DataFusion
//! Ballista's own scheduler and executor processes, started with what
//! retap's queries need in every process of the cluster (Ballista's session
//! config, and the stores that read traces: `engine::cluster`). Ballista
//! distributes the work; retap adds nothing to it.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use retap_analyzer::engine::cluster;
use retap_analyzer::sql::codec::{LogicalCodec, PhysicalCodec};

#[derive(clap::Subcommand)]
pub enum ClusterCmd {
    /// The scheduler: plans queries and hands their tasks to executors.
    Scheduler {
        /// Where it listens (clients: --cluster df://this).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
    },
    /// An executor: runs tasks, reading traces with this process's settings.
    Executor {
        /// The scheduler's HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Where it serves the results of its tasks (Arrow Flight).
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: SocketAddr,
        /// Its gRPC port (the scheduler's calls).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks it runs at once [default: the cores].
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// How long to wait for the scheduler to listen (seconds), so that
        /// a scheduler and its executors can be started together.
        #[arg(long, default_value_t = 60)]
        scheduler_wait: u64,
    },
}

/// Ballista's processes say what goes wrong through the `log` crate
/// (a task's error, an executor lost): warnings and errors go to stderr,
/// more with RUST_LOG=info or debug.
struct Stderr(log::LevelFilter);

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.0
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("retap cluster: {} {}: {}", r.level(), r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

fn start_logging() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(log::LevelFilter::Warn);
    if log::set_logger(Box::leak(Box::new(Stderr(level)))).is_ok() {
        log::set_max_level(level);
    }
}

pub fn main(c: ClusterCmd) -> ExitCode {
    start_logging();
    let result = retap_analyzer::async_runtime().block_on(async {
        match c {
            ClusterCmd::Scheduler { bind } => scheduler(bind).await,
            ClusterCmd::Executor {
                scheduler,
                bind,
                grpc_port,
                concurrent_tasks,
                scheduler_wait,
            } => {
                executor(
                    &scheduler,
                    bind,
                    grpc_port,
                    concurrent_tasks,
                    Duration::from_secs(scheduler_wait),
                )
                .await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("retap cluster: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn scheduler(bind: SocketAddr) -> Result<(), String> {
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: bind.ip().to_string(),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..Default::default()
    }
    .with_override_config_producer(Arc::new(cluster::config))
    .with_override_session_builder(Arc::new(cluster::state));
    let c = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("retap cluster scheduler: listening on {bind} (clients: --cluster df://{bind})");
    start_server(c, bind, Arc::new(config))
        .await
        .map_err(|e| format!("{bind}: {e}"))
}

async fn executor(
    scheduler: &str,
    bind: SocketAddr,
    grpc_port: u16,
    tasks: Option<usize>,
    wait: Duration,
) -> Result<(), String> {
    let (host, port) = scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("--scheduler {scheduler}: give HOST:PORT"))?;
    wait_for_scheduler(scheduler, wait)?;
    let config = ExecutorProcessConfig {
        scheduler_host: host,
        scheduler_port: port,
        bind_host: bind.ip().to_string(),
        external_host: Some(bind.ip().to_string()),
        port: bind.port(),
        grpc_port,
        vcores: tasks.unwrap_or_else(retap_analyzer::cores),
        override_config_producer: Some(Arc::new(cluster::config)),
        override_runtime_producer: Some(Arc::new(|_| cluster::runtime_env())),
        override_function_registry: Some(Arc::new(functions()?)),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..Default::default()
    };
    eprintln!(
        "retap cluster executor: serving on {bind} (gRPC {grpc_port}) for the scheduler at {scheduler}"
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| format!("executor: {e}"))
}

/// The functions a client's and the scheduler's sessions know
/// ([`cluster::state`]: DataFusion's, its nested ones for the stacks, and
/// retap's), by name: what an executor decodes a task's plan with
/// (Ballista's default registry lacks the nested ones).
fn functions() -> Result<BallistaFunctionRegistry, String> {
    let st = cluster::state(cluster::config()).map_err(|e| e.to_string())?;
    Ok(BallistaFunctionRegistry {
        scalar_functions: st.scalar_functions().clone(),
        aggregate_functions: st.aggregate_functions().clone(),
        window_functions: st.window_functions().clone(),
        higher_order_functions: st.higher_order_functions().clone(),
    })
}

/// Ballista's executor gives up at once when its scheduler is not yet
/// listening (its own retry is for a configured time-out that its loop
/// never measures), so processes started together would lose their
/// executors to a race: wait here, boundedly, until the scheduler's port
/// accepts a connection.
fn wait_for_scheduler(scheduler: &str, wait: Duration) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    let mut said = false;
    loop {
        let last = match scheduler.to_socket_addrs() {
            Ok(addrs) => {
                let mut last = "no address".to_string();
                for a in addrs {
                    match TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
                        Ok(_) => return Ok(()),
                        Err(e) => last = e.to_string(),
                    }
                }
                last
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "no scheduler at {scheduler} within {} s ({last}): start `retap cluster scheduler --bind {scheduler}` first",
                wait.as_secs()
            ));
        }
        if !said {
            eprintln!("retap cluster executor: waiting for the scheduler at {scheduler} ({last})");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
