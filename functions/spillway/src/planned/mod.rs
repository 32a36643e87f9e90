//! Planned events: announced sales prepared before they open and recovered after they end.
//!
//! - [`plan`]: the event plan document and its validation;
//! - [`reconcile`]: Prepare and Recover, one decision per call (what the Lambda function acts on);
//! - [`model`]: a cluster in memory with AWS's expected durations (the dry run, the tests).
//!
//! Not built yet (issue 8): the scheduler and its CLI, the rule against two movers at once.

pub mod model;
pub mod plan;
pub mod reconcile;
