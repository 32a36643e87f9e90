//! The metrics Lambda: wiring only. Configuration is read once here; the handler lives in
//! `handler.rs`.

mod config;
mod handler;

use config::MetricsConfig;
use lambda_runtime::{run, service_fn};
use spillway::metrics::pipeline::Pipeline;
use spillway::metrics::topology::TopologyCache;
use spillway::shifting::trigger::Trigger;
use spillway_aws::rds::Rds;
use spillway_aws::sfn::StepFunctions;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config =
        spillway_aws::configured(MetricsConfig::from_lookup(|k| std::env::var(k).ok()), |c| {
            &c.log_level
        })?;
    let sdk = spillway_aws::sdk_config().await;
    let direct = config.direct.map(|d| {
        (
            Trigger::new(d.settings, d.targets),
            StepFunctions::from_sdk(&sdk),
        )
    });
    let deps = handler::HandlerDeps::new(
        Pipeline {
            source: Rds::new(aws_sdk_rds::Client::new(&sdk)),
            cache: TopologyCache::new(config.cache, config.clusters, config.available_statuses),
            namespace: config.namespace,
            shift_ms: 0,
        },
        direct,
    );
    tracing::info!("spillway-metrics ready");
    run(service_fn(|event| handler::function_handler(&deps, event))).await
}
