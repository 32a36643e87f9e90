//! The what-if model: how Spillway, its alarms and the cluster would behave under a load, at
//! 1-second resolution, calling the same decision code as the functions.
//!
//! - [`alarm`]: CloudWatch metric-alarm evaluation with its documented missing-data semantics;
//! - [`autoscaling`]: Application Auto Scaling target tracking on the provisioned readers' CPU;
//! - [`cost`]: what each strategy costs for the same load, from one price file;
//! - [`clients`]: how far a weight change moves the clients' connection pools, second by second;
//! - [`connections`]: the readers' connections and the composite signals (CPU or connections
//!   up, CPU and connections down);
//! - [`load`]: a synthetic spike, the provisioned readers and booting replicas, the Serverless v2
//!   reader's capacity;
//! - [`latency`]: onset → first weight change over the undocumented delays, for the alarm
//!   path and the direct trigger;
//! - [`loops`]: the scale-up and scale-down loops as the state machines run them, stepping with
//!   the weight-step function's own arithmetic;
//! - [`parameters`]: the template's parameters, by name, applied to a scenario;
//! - [`recorded`]: a recorded load (the metrics function's EMF lines) turned into demand;
//! - [`scenario`]: one run wiring them as the deployment does, with the auto-scaling-only
//!   baseline on the same spike, and its summary;
//! - [`sweep`]: a grid of runs over a few parameters, ranked.

pub mod alarm;
pub mod autoscaling;
pub mod clients;
pub mod connections;
pub mod cost;
pub mod latency;
pub mod load;
pub mod loops;
pub mod parameters;
pub mod recorded;
pub mod scenario;
pub mod sweep;
