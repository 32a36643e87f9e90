//! Traffic shifting: where the serverless reader's Route 53 weight goes next, and one safe step
//! of it.
//!
//! - [`weights`]: the weight arithmetic and its safety invariants;
//! - [`shift`]: one safe weight step over the Route 53 pair (guards, compare-and-swap);
//! - [`trigger`]: the direct trigger, which starts the scale-up loop from the metrics function
//!   seconds after the readers turn hot.

pub mod shift;
pub mod trigger;
pub mod weights;
