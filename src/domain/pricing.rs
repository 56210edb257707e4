//! What a request costs: per-token prices from config or the built-in table, the
//! exact cost of a finished request (cache-aware) and the worst-case cost reserved
//! before a request is sent.

use super::price_table::PRICES;
use crate::config::ModelConfig;
use crate::money::{femto_to_nanos_ceil, Nanos, PricePerToken};

/// Output cap assumed when neither config nor the table knows the model's.
const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4096;

/// The prices of one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPrice {
    /// Per prompt token (uncached).
    pub input: PricePerToken,
    /// Per completion token.
    pub output: PricePerToken,
    /// Per cached prompt token read.
    pub cache_read: PricePerToken,
    /// Per prompt token written to a cache.
    pub cache_write: PricePerToken,
    /// Per billed request (`cost_per_request`; rerank), in the same femto units.
    pub per_request: PricePerToken,
    /// Largest completion the model produces.
    pub max_output_tokens: u32,
    /// False when no price was found anywhere (the request is then free; warned at start).
    pub known: bool,
}

/// Tokens of a finished request, as the provider reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    /// All prompt tokens, cached ones included.
    pub prompt: u64,
    /// Completion tokens.
    pub completion: u64,
    /// Prompt tokens read from a cache (inside `prompt`).
    pub cached_read: u64,
    /// Prompt tokens written to a cache (inside `prompt`).
    pub cache_write: u64,
    /// Of the cache writes, those with Anthropic's 1-hour TTL (inside `cache_write`).
    pub cache_write_1h: u64,
    /// Requests billed per call (`cost_per_request`): one per answered rerank, or the
    /// provider's search units.
    pub requests: u64,
}

fn table_row(id: &str) -> Option<&'static super::price_table::PriceRow> {
    PRICES
        .binary_search_by(|row| row.0.cmp(id))
        .ok()
        .map(|i| &PRICES[i])
}

/// Prices for a deployment: config values win, then the table by the provider's model id,
/// then by the client-facing name.
pub fn resolve(cfg: &ModelConfig) -> ModelPrice {
    let row = table_row(&cfg.model).or_else(|| table_row(&cfg.name));
    let from_cfg = |v: Option<f64>| v.and_then(PricePerToken::from_usd_per_mtok);
    let input = from_cfg(cfg.input_cost_per_mtok).or(row.map(|r| PricePerToken::from_femto(r.1)));
    let output = from_cfg(cfg.output_cost_per_mtok).or(row.map(|r| PricePerToken::from_femto(r.2)));
    let per_request = cfg
        .cost_per_request
        .and_then(|usd| PricePerToken::from_usd_per_mtok(usd * 1e6))
        .unwrap_or_default();
    // A model priced only per request, or an embedding/rerank model whose table row has
    // no output price (it produces no completion), is priced all the same.
    let output = output.or(
        (cfg.kind != crate::config::ModelKind::Chat && input.is_some())
            .then(PricePerToken::default),
    );
    let known = (input.is_some() && output.is_some()) || cfg.cost_per_request.is_some();
    let input = input.unwrap_or_default();
    let cache_read = from_cfg(cfg.cache_read_cost_per_mtok)
        .or(row.and_then(|r| r.3).map(PricePerToken::from_femto))
        .unwrap_or(input);
    let cache_write = from_cfg(cfg.cache_write_cost_per_mtok)
        .or(row.and_then(|r| r.4).map(PricePerToken::from_femto))
        .unwrap_or(input);
    let max_output_tokens = cfg
        .max_output_tokens
        .or(row.map(|r| r.5).filter(|m| *m > 0))
        .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
    ModelPrice {
        input,
        output: output.unwrap_or_default(),
        cache_read,
        cache_write,
        per_request,
        max_output_tokens,
        known,
    }
}

impl ModelPrice {
    /// Exact cost of a finished request, rounded up to whole nanos once.
    pub fn cost(&self, t: TokenCounts) -> Nanos {
        let cached = t.cached_read.min(t.prompt);
        let written = t.cache_write.min(t.prompt - cached);
        let written_1h = t.cache_write_1h.min(written);
        let plain = t.prompt - cached - written;
        // Anthropic bills a 1-hour cache write at 2× the input price (SPEC §10).
        femto_to_nanos_ceil(
            self.input.femto_cost(plain)
                + self.cache_read.femto_cost(cached)
                + self.cache_write.femto_cost(written - written_1h)
                + 2 * self.input.femto_cost(written_1h)
                + self.output.femto_cost(t.completion)
                + self.per_request.femto_cost(t.requests),
        )
    }

    /// Worst case before the call: every prompt token at the highest prompt price and
    /// the full completion allowance.
    pub fn worst_case(&self, prompt_estimate: u64, max_tokens: Option<u32>) -> Nanos {
        let completion = u64::from(
            max_tokens
                .unwrap_or(self.max_output_tokens)
                .min(self.max_output_tokens.max(1)),
        );
        // A model that bills cache writes (Anthropic's) may write them with the 1-hour
        // TTL, at 2× input.
        let prompt = if self.cache_write.femto_cost(1) > self.input.femto_cost(1) {
            (2 * self.input.femto_cost(prompt_estimate))
                .max(self.cache_write.femto_cost(prompt_estimate))
        } else {
            self.input.femto_cost(prompt_estimate)
        };
        femto_to_nanos_ceil(
            prompt + self.output.femto_cost(completion) + self.per_request.femto_cost(1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ProviderKind;

    fn model(name: &str, id: &str) -> ModelConfig {
        ModelConfig {
            timeout_s: 60,
            max_retries: 0,
            ..ModelConfig::new(name, ProviderKind::OpenAi, id)
        }
    }

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(PRICES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn gpt_4o_costs_match_the_public_price_list() {
        let p = resolve(&model("gpt-4o", "gpt-4o"));
        assert!(p.known);
        // 1000 prompt (200 cached) + 500 completion:
        // 800 × 2.50/M + 200 × 1.25/M + 500 × 10/M = 0.002 + 0.00025 + 0.005 USD.
        let t = TokenCounts {
            prompt: 1000,
            completion: 500,
            cached_read: 200,
            cache_write: 0,
            cache_write_1h: 0,
            ..TokenCounts::default()
        };
        assert_eq!(p.cost(t), Nanos(7_250_000));
        assert_eq!(p.max_output_tokens, 16384);
    }

    #[test]
    fn config_prices_override_the_table() {
        let mut m = model("x", "gpt-4o");
        m.input_cost_per_mtok = Some(1.0);
        m.output_cost_per_mtok = Some(2.0);
        let p = resolve(&m);
        let t = TokenCounts {
            prompt: 10,
            completion: 10,
            ..TokenCounts::default()
        };
        assert_eq!(p.cost(t), Nanos(30_000));
    }

    #[test]
    fn worst_case_covers_any_real_cost() {
        let p = resolve(&model("claude", "claude-sonnet-4-5"));
        let worst = p.worst_case(100, Some(50));
        let real = p.cost(TokenCounts {
            prompt: 100,
            completion: 50,
            cached_read: 0,
            cache_write: 100,
            cache_write_1h: 100,
            ..TokenCounts::default()
        });
        assert!(worst >= real);
        assert_eq!(p.worst_case(0, None), p.worst_case(0, Some(10_000_000)));
    }

    /// Claude Code writes its prompt cache with the 1-hour TTL: 2× input, where the
    /// 5-minute write is 1.25× (claude-sonnet-4-5: $3 input, $3.75 5-minute write).
    #[test]
    fn one_hour_cache_writes_cost_twice_the_input_price() {
        let p = resolve(&model("claude", "claude-sonnet-4-5"));
        let t = TokenCounts {
            prompt: 1_000_000 + 2_000_000 + 4_000_000,
            completion: 0,
            cached_read: 0,
            cache_write: 6_000_000,
            cache_write_1h: 4_000_000,
            requests: 0,
        };
        // 1M plain × $3 + 2M 5-minute × $3.75 + 4M 1-hour × $6.
        assert_eq!(
            p.cost(t),
            Nanos(3_000_000_000 + 7_500_000_000 + 24_000_000_000)
        );
    }

    #[test]
    fn unknown_models_are_flagged() {
        assert!(!resolve(&model("local", "my-llama")).known);
    }
}
