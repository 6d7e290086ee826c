//! # FinVM core
//!
//! A deterministic, register-based bytecode virtual machine: the same
//! `Program + Input + State` always yields the same `Output + State + Trace`.
//!
//! This crate is pure: no I/O, no clock, no randomness, and no hash-order
//! iteration anywhere observable.

#![warn(missing_docs)]

pub mod api;
pub mod arith;
pub mod builtins;
pub(crate) mod compact;
pub mod db;
pub mod decode;
pub mod effect;
pub mod error;
pub mod interp;
pub mod limits;
pub mod machine;
pub mod num;
pub mod opcodes;
pub mod process;
pub mod program;
pub mod snapshot;
pub mod statemachine;
pub mod validate;
pub mod value;

pub use error::{ErrorCode, VmError, VmResult};
pub use num::{Fixed, Int, Rational, Rounding};
pub use value::{List, Map, Record, Str, Value};
