//! The ClusterCheck Lambda (a CloudFormation custom resource): wiring only; the decision is
//! `spillway::region::check`, the request handling `handler.rs`.

mod handler;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use lambda_runtime::{LambdaEvent, run, service_fn};
use spillway_aws::rds::Rds;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    spillway_aws::configured(
        spillway::config::log_level(&|k| std::env::var(k).ok()),
        String::as_str,
    )?;
    let rds = Rds::new(aws_sdk_rds::Client::new(&spillway_aws::sdk_config().await));
    run(service_fn(
        |event: LambdaEvent<CloudFormationCustomResourceRequest>| {
            let rds = &rds;
            async move {
                let (url, response) = handler::handle(&event.payload, rds)
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
