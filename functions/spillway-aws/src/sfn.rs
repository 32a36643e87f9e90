//! Step Functions for the direct trigger: `StartExecution` of a cluster's scale-up machine.

use spillway::shifting::trigger::{ExecutionStarter, Start, StartError, Started};

pub struct StepFunctions {
    client: aws_sdk_sfn::Client,
}

impl StepFunctions {
    pub fn new(client: aws_sdk_sfn::Client) -> Self {
        Self { client }
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
