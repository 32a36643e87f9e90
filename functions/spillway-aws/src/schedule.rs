//! The operator command's planned-event calls: the deployed stack's outputs and parameters
//! (CloudFormation), the one-time schedules (EventBridge Scheduler), and a start by hand (Step
//! Functions).

use aws_config::SdkConfig;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};

use crate::describe_error as describe;

/// The deployed stack, as `spillway check` reads it too.
pub use crate::preflight::{StackFacts as Stack, describe_stack};

/// Spillway's schedules live in the default group (ListSchedules without a group lists every
/// group; GetSchedule without one reads only the default).
const GROUP: &str = "default";

/// One schedule as `spillway event list` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scheduled {
    pub name: String,
    pub expression: String,
    pub target: String,
    /// The execution input (`{"plan": …}`).
    pub input: Option<String>,
    pub state: String,
}

pub struct Schedules {
    pub client: aws_sdk_scheduler::Client,
}

impl Schedules {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_scheduler::Client::new(config),
        }
    }

    /// Every schedule whose name starts with `prefix`, in the default group, with its target.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Scheduled>, String> {
        let mut found = vec![];
        let mut pages = self
            .client
            .list_schedules()
            .group_name(GROUP)
            .name_prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe("ListSchedules", &e))?;
            for s in page.schedules() {
                let Some(name) = s.name() else { continue };
                let got = self
                    .client
                    .get_schedule()
                    .group_name(GROUP)
                    .name(name)
                    .send()
                    .await
                    .map_err(|e| describe("GetSchedule", &e))?;
                found.push(Scheduled {
                    name: name.to_string(),
                    expression: got.schedule_expression().unwrap_or_default().to_string(),
                    target: got
                        .target()
                        .map(|t| t.arn().to_string())
                        .unwrap_or_default(),
                    input: got.target().and_then(|t| t.input()).map(str::to_string),
                    state: got
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                });
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// A one-time schedule (`at(...)` in UTC) that starts `machine` with `input` once, then
    /// deletes itself.
    pub async fn create(
        &self,
        name: &str,
        expression: &str,
        machine: &str,
        role: &str,
        input: &str,
    ) -> Result<(), String> {
        self.client
            .create_schedule()
            .group_name(GROUP)
            .name(name)
            .schedule_expression(expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(
                Target::builder()
                    .arn(machine)
                    .role_arn(role)
                    .input(input)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .description("Spillway planned event (spillway event schedule)")
            .send()
            .await
            .map_err(|e| describe("CreateSchedule", &e))?;
        Ok(())
    }

    /// Deletes a schedule; `Ok(false)` when there was none.
    pub async fn delete(&self, name: &str) -> Result<bool, String> {
        match self
            .client
            .delete_schedule()
            .group_name(GROUP)
            .name(name)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(describe("DeleteSchedule", &e)),
        }
    }
}

/// Starts an execution now (`spillway event run`); returns its ARN.
pub async fn start(
    config: &SdkConfig,
    machine: &str,
    name: &str,
    input: &str,
) -> Result<String, String> {
    let sfn = aws_sdk_sfn::Client::new(config);
    let out = sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input)
        .send()
        .await
        .map_err(|e| describe("StartExecution", &e))?;
    Ok(out.execution_arn().to_string())
}

/// An execution's status, error and cause (`spillway event run --wait`).
pub async fn execution(
    config: &SdkConfig,
    arn: &str,
) -> Result<(String, Option<String>, Option<String>), String> {
    let sfn = aws_sdk_sfn::Client::new(config);
    let d = sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|e| describe("DescribeExecution", &e))?;
    Ok((
        d.status().as_str().to_string(),
        d.error().map(str::to_string),
        d.cause().map(str::to_string),
    ))
}
