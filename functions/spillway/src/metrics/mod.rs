//! The metrics pipeline: `RDSOSMetrics` subscription batches in, high-resolution EMF lines out.
//!
//! - [`subscription`]: the CloudWatch Logs subscription envelope to a log batch;
//! - [`em`]: Enhanced Monitoring documents to CPU samples;
//! - [`topology`]: which instance plays which role, and the cache over the RDS API;
//! - [`emf`]: CloudWatch Embedded Metric Format documents;
//! - [`pipeline`]: the pipeline the Lambda and the replay command share.

pub mod em;
pub mod emf;
pub mod pipeline;
pub mod subscription;
pub mod topology;
