//! The `valdrix` application: the orchestration that the command line (and later the server)
//! shares: ingestion of inputs into a store, FOCUS export, output formatting and the demo.

pub mod allocate;
pub mod config;
pub mod cost_explorer;
pub mod demo;
pub mod export;
pub mod output;
pub mod pipeline;
pub mod remote;
pub mod series;
pub mod server_ops;
pub mod trust_views;
pub mod zombies;
