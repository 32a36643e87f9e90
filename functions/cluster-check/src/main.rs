//! The ClusterCheck Lambda (a CloudFormation custom resource): wiring only; the decision is
//! `spillway::region::check`, the request handling `handler.rs`.

mod handler;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use lambda_runtime::{LambdaEvent, run, service_fn};
use spillway_aws::rds::Rds;
use spillway_aws::route53::{PairLocation, Route53Pair};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    spillway_aws::configured(
        spillway::config::log_level(&|k| std::env::var(k).ok()),
        String::as_str,
    )?;
    let config = spillway_aws::sdk_config().await;
    let rds = Rds::new(aws_sdk_rds::Client::new(&config));
    let route53 = aws_sdk_route53::Client::new(&config);
    // A removed cluster's pair, as the template names its records.
    let pair_at = |zone: &str, record: &str| {
        Route53Pair::new(
            route53.clone(),
            PairLocation {
                hosted_zone_id: zone.to_string(),
                record_name: record.to_string(),
                provisioned_set_identifier: "provisioned".into(),
                serverless_set_identifier: "serverless".into(),
            },
        )
    };
    run(service_fn(
        |event: LambdaEvent<CloudFormationCustomResourceRequest>| {
            let (rds, pair_at) = (&rds, &pair_at);
            async move {
                let (url, response) = handler::handle(&event.payload, rds, pair_at)
                    .await
                    .inspect_err(|e| tracing::error!(error = %e, "unanswerable request"))?;
                let document = serde_json::to_value(&response)?;
                spillway_aws::custom_resource::respond(&url, &document)
                    .await
                    .inspect_err(
                        |e| tracing::error!(error = %e, "could not answer CloudFormation"),
                    )?;
                Ok::<_, lambda_runtime::Error>(())
            }
        },
    ))
    .await
}
