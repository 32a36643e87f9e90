//! Spillway's domain: everything that decides, as plain data in and plain data out, one folder
//! per sub-domain:
//!
//! - [`metrics`]: the metrics pipeline (subscription batches → Enhanced Monitoring samples →
//!   roles from the topology → EMF);
//! - [`shifting`]: traffic shifting (the weight arithmetic, one safe weight step);
//! - [`simulation`]: the what-if model (CloudWatch alarm evaluation, the loops, the clients,
//!   the cost of each strategy, …);
//! - [`preflight`]: the check of a deployment before the sale (each rule on a snapshot);
//! - [`planned`]: planned events (the announced sale: plan, Prepare / Recover, schedules);
//! - [`region`]: every cluster of a Region, and the signals each scales on;
//! - [`config`]: the parsers every binary's configuration shares.
//!
//! No Lambda runtime and no AWS SDK here: AWS capabilities are traits (e.g.
//! [`metrics::topology::TopologySource`]) implemented by `spillway-aws` and by in-memory fakes
//! in tests.

pub mod config;
pub mod metrics;
pub mod planned;
pub mod preflight;
pub mod region;
pub mod shifting;
pub mod simulation;
