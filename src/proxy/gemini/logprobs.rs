//! Gemini's `logprobsResult` (asked for with `generationConfig.responseLogprobs`) in
//! OpenAI's `logprobs` shape: one entry per chosen token, with its alternatives.

use serde::Deserialize;
use serde_json::{json, Value};

/// A candidate's `logprobsResult`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct LogprobsResult {
    /// The alternatives at each step, in step order.
    #[serde(default)]
    top_candidates: Vec<TopCandidates>,
    /// The token chosen at each step.
    #[serde(default)]
    chosen_candidates: Vec<TokenLogprob>,
}

#[derive(Deserialize, Default)]
struct TopCandidates {
    #[serde(default)]
    candidates: Vec<TokenLogprob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenLogprob {
    #[serde(default)]
    token: String,
    #[serde(default)]
    log_probability: f64,
}

impl TokenLogprob {
    /// `{"token", "logprob", "bytes"}` (OpenAI gives the token's UTF-8 bytes).
    fn openai(&self) -> Value {
        json!({"token": self.token, "logprob": self.log_probability, "bytes": self.token.as_bytes()})
    }
}

impl LogprobsResult {
    /// `{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}], "refusal": null}`.
    pub(super) fn openai(&self) -> Value {
        let content: Vec<Value> = self
            .chosen_candidates
            .iter()
            .enumerate()
            .map(|(step, chosen)| {
                let top: Vec<Value> = self
                    .top_candidates
                    .get(step)
                    .map(|t| t.candidates.iter().map(TokenLogprob::openai).collect())
                    .unwrap_or_default();
                let mut entry = chosen.openai();
                entry["top_logprobs"] = top.into();
                entry
            })
            .collect();
        json!({"content": content, "refusal": null})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_tokens_carry_their_alternatives_in_step_order() {
        let wire = r#"{"topCandidates":[{"candidates":[{"token":"Hi","tokenId":1,"logProbability":-0.1},{"token":"Hello","tokenId":2,"logProbability":-2.5}]},{"candidates":[{"token":"!","logProbability":-0.01}]}],
            "chosenCandidates":[{"token":"Hi","tokenId":1,"logProbability":-0.1},{"token":"!","logProbability":-0.01}]}"#;
        let result: LogprobsResult = serde_json::from_str(wire).expect("parses");
        assert_eq!(
            result.openai(),
            json!({"content": [
                {"token": "Hi", "logprob": -0.1, "bytes": [72, 105],
                 "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                                  {"token": "Hello", "logprob": -2.5, "bytes": [72, 101, 108, 108, 111]}]},
                {"token": "!", "logprob": -0.01, "bytes": [33],
                 "top_logprobs": [{"token": "!", "logprob": -0.01, "bytes": [33]}]}],
                "refusal": null})
        );
    }

    #[test]
    fn missing_alternatives_give_an_empty_list() {
        let result: LogprobsResult =
            serde_json::from_str(r#"{"chosenCandidates":[{"token":"a","logProbability":-1.5}]}"#)
                .expect("parses");
        assert_eq!(result.openai()["content"][0]["top_logprobs"], json!([]));
    }
}
