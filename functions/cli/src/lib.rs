//! The parts of the `spillway` command that its benchmarks measure too: the pictures.
//! Everything else of the command lives in the binary (`main.rs` and its modules).

pub mod picture;
