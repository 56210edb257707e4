//! Tollgate library root (placeholder: the real list of modules is merged in elsewhere).

pub mod simulator;
