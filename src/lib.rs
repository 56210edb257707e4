//! Tollgate: a self-hosted AI model gateway in one process. See README.md.
#![deny(clippy::unwrap_used)]

pub mod api;
pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod money;
pub mod proxy;
pub mod web;

pub use app::{App, AppState};
