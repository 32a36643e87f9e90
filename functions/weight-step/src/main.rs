//! The weight-step Lambda: wiring only. Configuration is read once here; the handler lives in
//! `handler.rs`.

mod config;
mod handler;

use config::FunctionConfig;
use lambda_runtime::{run, service_fn};
use spillway_aws::rds::Rds;
use spillway_aws::route53::PairLocation;
use spillway_aws::route53::Route53Pair;
use spillway_aws::serverless::ServerlessReader;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = spillway_aws::configured(
        FunctionConfig::from_lookup(|k| std::env::var(k).ok()),
        |c| &c.log_level,
    )?;
    // Without a cluster in the environment, every request names its own (`settings`): the
    // store is then only the client, relocated per request.
    let location = config.cluster.as_ref().map_or_else(
        || PairLocation {
            hosted_zone_id: String::new(),
            record_name: String::new(),
            provisioned_set_identifier: String::new(),
            serverless_set_identifier: String::new(),
        },
        |c| c.location.clone(),
    );
    let sdk = spillway_aws::sdk_config().await;
    let deps = handler::HandlerDeps {
        store: Route53Pair::new(aws_sdk_route53::Client::new(&sdk), location),
        instances: ServerlessReader {
            rds: Rds::new(aws_sdk_rds::Client::new(&sdk)),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        },
        config,
    };
    run(service_fn(|event| handler::function_handler(&deps, event))).await
}
