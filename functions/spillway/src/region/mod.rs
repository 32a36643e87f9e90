//! Every cluster of a Region from one deployment, and the signals each one scales on (issue 10).
//!
//! - [`signals`]: Aurora's own rules as signals: CPU *or* connections up, CPU *and* connections
//!   down; the thresholds' checks; the composite alarms' rules;
//! - [`max_connections`]: what a connections percentage is a percentage of (AWS's default
//!   formulas by engine and class);
//! - [`check`]: the deploy-time check of one cluster's configuration (the stack's
//!   `ClusterCheck` custom resource), and its connections thresholds in connections;
//! - [`settings`]: a Region's clusters in one stack (cluster keys, each cluster's overrides of
//!   the stack's defaults), resolved and checked per cluster;
//! - [`removal`]: a cluster removed from the stack only once its traffic is back on the
//!   provisioned readers.

pub mod check;
pub mod max_connections;
pub mod removal;
pub mod settings;
pub mod signals;
