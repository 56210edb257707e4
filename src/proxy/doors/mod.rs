//! The doors besides Chat Completions (`handler.rs`): each owns its paths, which header
//! carries the key, its error format and its request/answer shapes (DIALECTS.md). A
//! door never names a provider's wire format except to pass its own dialect through
//! unchanged to a provider that speaks it.

pub mod embeddings;
mod json_door;
pub mod messages;
pub mod rerank;
pub mod responses;
mod upstream;
