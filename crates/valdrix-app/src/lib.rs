//! The application layer: every use case of Valdrix as a typed library call, between the domain
//! crates below (ingest, store, analytics, zombies) and the callers above (the command line,
//! the HTTP server, the demo, and the job worker to come).
//!
//! A use case takes a store and a tenant and returns data or an [`AppError`]; it prints nothing
//! and knows no HTTP. Its error says whose doing a failure is ([`error::Fault`]), so the server
//! answers 4xx for the caller's faults and 5xx for its own without inspecting messages.

pub mod allocate;
pub mod config;
pub mod error;
pub mod export;
pub mod ingest;
pub mod keys;
pub mod reconcile;
pub mod series;
pub mod zombies;

pub use config::Config;
pub use error::{AppError, Fault, Result};
