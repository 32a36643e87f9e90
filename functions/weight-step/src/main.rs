//! The weight-step Lambda: wiring only. Configuration is read once here; the handler lives in
//! `handler.rs`.

mod handler;

use lambda_runtime::{run, service_fn};
use spillway::config::ShiftConfig;
use spillway_aws::rds::RdsTopology;
use spillway_aws::route53::{PairLocation, Route53Pair};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    spillway_aws::init_lambda_logs();
    let config = match ShiftConfig::from_lookup(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return Err(e.into());
        }
    };
    let sdk = spillway_aws::sdk_config().await;
    let deps = handler::HandlerDeps {
        store: Route53Pair::new(
            aws_sdk_route53::Client::new(&sdk),
            PairLocation {
                hosted_zone_id: config.hosted_zone_id.clone(),
                record_name: config.record_name.clone(),
                provisioned_set_identifier: config.provisioned_set_identifier.clone(),
                serverless_set_identifier: config.serverless_set_identifier.clone(),
            },
        ),
        instances: RdsTopology::new(aws_sdk_rds::Client::new(&sdk)),
        config,
    };
    run(service_fn(|event| handler::function_handler(&deps, event))).await
}
