//! The metrics Lambda: wiring only. Configuration is read once here; the handler lives in
//! `handler.rs`.

mod handler;

use lambda_runtime::{run, service_fn};
use spillway::config::MetricsConfig;
use spillway::pipeline::Pipeline;
use spillway::topology::TopologyCache;
use spillway_aws::rds::RdsTopology;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    spillway_aws::init_lambda_logs();
    let config = match MetricsConfig::from_lookup(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return Err(e.into());
        }
    };
    let sdk = spillway_aws::sdk_config().await;
    let deps = handler::HandlerDeps::new(Pipeline {
        source: RdsTopology::new(aws_sdk_rds::Client::new(&sdk)),
        cache: TopologyCache::new(config.cache, config.clusters, config.available_statuses),
        namespace: config.namespace,
        shift_ms: 0,
    });
    tracing::info!("spillway-metrics ready");
    run(service_fn(|event| handler::function_handler(&deps, event))).await
}
