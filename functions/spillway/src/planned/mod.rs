//! Planned events: announced sales prepared before they open and recovered after they end.
//!
//! - [`plan`]: the event plan document and its validation.
//!
//! Not built yet (issue 8): the Prepare / Recover state machines, the scheduler, the CLI.

pub mod plan;
