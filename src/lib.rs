//! Tollgate: a self-hosted AI model gateway in one process. See README.md.
#![deny(clippy::unwrap_used)]

pub mod api;
pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod fast_map;
pub mod ledger;
pub mod metrics;
pub mod money;
pub mod proxy;
pub mod simulator;
pub mod web;

pub use app::{App, AppState};
