//! Simulated token log probabilities, in OpenAI's and Gemini's shapes. Each reply piece
//! is one token; its value and alternatives are derived from the text, so the same
//! reply always carries the same figures.

use serde_json::{json, Value};

/// A piece's log probability at `rank` (0 = the chosen token), between -0.05 and -3.
fn logprob(piece: &str, rank: u32) -> f64 {
    let seed = piece
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    -0.05 - f64::from(seed % 50) / 100.0 - f64::from(rank) * 0.75
}

/// The alternative at `rank` ≥ 1 (the chosen token is rank 0).
fn alternative(piece: &str, rank: u32) -> String {
    format!("{}~{rank}", piece.trim())
}

fn ranked(piece: &str, top: u32) -> Vec<(String, f64)> {
    (0..top)
        .map(|rank| {
            let token = if rank == 0 {
                piece.to_string()
            } else {
                alternative(piece, rank)
            };
            (token, logprob(piece, rank))
        })
        .collect()
}

/// OpenAI's `logprobs`: `{"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}`.
pub fn openai(pieces: &[String], top: u32) -> Value {
    let entry = |token: &str, logprob: f64| json!({"token": token, "logprob": logprob, "bytes": token.as_bytes()});
    let content: Vec<Value> = pieces
        .iter()
        .map(|p| {
            let mut e = entry(p, logprob(p, 0));
            e["top_logprobs"] = ranked(p, top).iter().map(|(t, l)| entry(t, *l)).collect();
            e
        })
        .collect();
    json!({"content": content, "refusal": null})
}

/// Gemini's `logprobsResult`: `topCandidates` and `chosenCandidates`, one per step.
pub fn gemini(pieces: &[String], top: u32) -> Value {
    let entry = |token: &str, logprob: f64| json!({"token": token, "tokenId": token.len(), "logProbability": logprob});
    let chosen: Vec<Value> = pieces.iter().map(|p| entry(p, logprob(p, 0))).collect();
    let tops: Vec<Value> = pieces
        .iter()
        .map(|p| {
            let candidates: Vec<Value> = ranked(p, top.max(1))
                .iter()
                .map(|(t, l)| entry(t, *l))
                .collect();
            json!({"candidates": candidates})
        })
        .collect();
    json!({"topCandidates": tops, "chosenCandidates": chosen})
}
