//! Step Functions for the direct trigger: `StartExecution` of a cluster's scale-up machine.

use spillway::shifting::trigger::{ExecutionStarter, Start, StartError, Started};

pub struct StepFunctions {
    client: aws_sdk_sfn::Client,
}

/// How long one `StartExecution` may take, retries included: the metrics function waits for
/// it before it returns, and a slow start is no faster than the alarm path it shortcuts.
pub const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl StepFunctions {
    pub fn new(client: aws_sdk_sfn::Client) -> Self {
        Self { client }
    }

    /// The client the metrics function uses: the shared configuration with [`START_TIMEOUT`]
    /// per operation.
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_sfn::config::Builder::from(sdk)
            .timeout_config(
                aws_sdk_sfn::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(START_TIMEOUT)
                    .build(),
            )
            .build();
        Self::new(aws_sdk_sfn::Client::from_conf(config))
    }
}

impl ExecutionStarter for StepFunctions {
    async fn start(&self, start: &Start) -> Result<Started, StartError> {
        match self
            .client
            .start_execution()
            .state_machine_arn(&start.state_machine_arn)
            .name(&start.name)
            .input(&start.input)
            .send()
            .await
        {
            // A new execution, or (same name and input) the running one: Step Functions
            // answers both with its ARN.
            Ok(out) => Ok(Started::Running {
                execution_arn: out.execution_arn().to_owned(),
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_already_exists()) =>
            {
                Ok(Started::AlreadyUsed)
            }
            Err(e) => Err(StartError(crate::describe_error("StartExecution", &e))),
        }
    }
}
