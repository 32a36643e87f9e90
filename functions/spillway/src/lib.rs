//! Spillway's domain: everything that decides, as plain data in and plain data out.
//!
//! - [`subscription`]: the CloudWatch Logs subscription envelope to a log batch;
//! - [`em`]: Enhanced Monitoring documents to CPU samples;
//! - [`topology`]: which instance plays which role, and the cache over the RDS API;
//! - [`emf`]: CloudWatch Embedded Metric Format documents;
//! - [`pipeline`]: the metrics pipeline the Lambda and the replay command share;
//! - [`shift`]: one safe weight step over the Route 53 pair (guards, compare-and-swap);
//! - [`weights`]: the weight arithmetic of traffic shifting and its safety invariants;
//! - [`config`]: typed configuration from environment variables.
//!
//! No Lambda runtime and no AWS SDK here: AWS capabilities are traits (e.g.
//! [`topology::TopologySource`]) implemented by `spillway-aws` and by in-memory fakes in tests.

pub mod config;
pub mod em;
pub mod emf;
pub mod pipeline;
pub mod shift;
pub mod subscription;
pub mod topology;
pub mod weights;
