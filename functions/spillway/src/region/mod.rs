//! Every cluster of a Region from one deployment, and the signals each one scales on (issue 10).
//!
//! - [`signals`]: Aurora's own rules as signals: CPU *or* connections up, CPU *and* connections
//!   down; the thresholds' checks; the composite alarms' rules;
//! - [`max_connections`]: what a connections percentage is a percentage of (AWS's default
//!   formulas by engine and class).
//!
//! Not built yet: the per-cluster template (`Fn::ForEach`), the connections alarms and
//! composite alarms, the machines reading them, the simulator's connections.

pub mod max_connections;
pub mod signals;
