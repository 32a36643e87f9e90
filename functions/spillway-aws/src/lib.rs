//! Adapters from Spillway's domain traits to the AWS SDK for Rust.
//!
//! One TLS stack (rustls with ring) is chosen here for every client; `AWS_ENDPOINT_URL` (and the
//! per-service `AWS_ENDPOINT_URL_*`) is honoured by `aws-config`, which is how the local
//! emulator is reached.

pub mod cloudwatch;
#[cfg(feature = "custom-resource")]
pub mod custom_resource;
#[cfg(feature = "planned")]
pub mod planned;
#[cfg(feature = "preflight")]
pub mod preflight;
pub mod rds;
pub mod route53;
#[cfg(feature = "schedule")]
pub mod schedule;
pub mod serverless;
pub mod sfn;

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the shared SDK configuration (region, credentials, endpoint) from the environment,
/// with the project's one HTTPS client.
pub async fn sdk_config() -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// "Call: Code: message" (or the transport error) for any SDK call's error.
pub(crate) fn describe_error<E, R>(call: &str, e: &aws_sdk_rds::error::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(s) => format!(
            "{call}: {}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or_default()
        ),
        None => format!(
            "{call}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        ),
    }
}

/// Whether an SDK error code means "slow down".
pub(crate) fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "PriorRequestNotComplete"
        )
    )
}

/// A function's configuration as its `main` reads it: on success the logs start at its level;
/// on failure they start at `error` and say why in one line, and the error ends the cold start.
pub fn configured<C, E: std::fmt::Display>(
    read: Result<C, E>,
    level: impl FnOnce(&C) -> &str,
) -> Result<C, E> {
    match read {
        Ok(config) => {
            init_lambda_logs(level(&config));
            Ok(config)
        }
        Err(e) => {
            init_lambda_logs("error");
            tracing::error!(error = %e, "invalid configuration");
            Err(e)
        }
    }
}

/// The functions' logs: structured JSON on stderr, so stdout carries EMF lines only, at the
/// level each function's configuration validated (`spillway::config::log_level`). Shared by
/// both Lambdas' `main` (it is the only non-adapter code here, kept beside the SDK setup rather
/// than in a crate of its own).
pub fn init_lambda_logs(level: &str) {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
}
