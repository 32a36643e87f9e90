//! The planned-event Lambda: wiring only. Configuration is read once here; the handler lives in
//! `handler.rs`.

mod config;
mod handler;

use config::EventConfig;
use lambda_runtime::{run, service_fn};
use spillway_aws::planned::PlannedEvents;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config =
        spillway_aws::configured(EventConfig::from_lookup(|k| std::env::var(k).ok()), |c| {
            &c.log_level
        })?;
    let sdk = spillway_aws::sdk_config().await;
    let port = PlannedEvents {
        rds: aws_sdk_rds::Client::new(&sdk),
        autoscaling: aws_sdk_applicationautoscaling::Client::new(&sdk),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        // The environment's cluster, if it names one; a request's settings name its own.
        scope: config
            .scope
            .clone()
            .unwrap_or(spillway_aws::planned::Scope {
                serverless_instance: String::new(),
                endpoint: None,
                autoscaling: false,
            }),
    };
    let deps = handler::Deps { port, config };
    run(service_fn(|event| handler::function_handler(&deps, event))).await
}
