//! Planned events: announced sales prepared before they open and recovered after they end.
//!
//! - [`plan`]: the event plan document and its validation;
//! - [`reconcile`]: Prepare and Recover, one decision per call (what the Lambda function acts on);
//! - [`model`]: a cluster in memory with AWS's expected durations (the dry run, the tests);
//! - [`schedule`]: the Scheduler one-time schedules (names, `at(...)`, no two plans at once).
//!
//! The rule against two movers at once: a failover or deletion only when no weight loop runs
//! (the machines check), and no weight step while the cluster fails over (`shifting::shift`).

pub mod model;
pub mod plan;
pub mod reconcile;
pub mod schedule;
