//! Tollgate library root (placeholder: the real module list is merged in later).

pub mod proxy;
