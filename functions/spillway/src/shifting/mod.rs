//! Traffic shifting: where the serverless reader's Route 53 weight goes next, and one safe step
//! of it.
//!
//! - [`weights`]: the weight arithmetic and its safety invariants;
//! - [`shift`]: one safe weight step over the Route 53 pair (guards, compare-and-swap).

pub mod shift;
pub mod weights;
