//! `serve --demo`: routes the walkthrough's four models to the in-process provider
//! simulator, keeping their provider, model id and prices from config, so the whole
//! walkthrough runs offline with no provider keys.

use std::net::SocketAddr;

use crate::config::{Config, ModelConfig, ModelKind, Secret};
use crate::proxy::ProviderKind;
use crate::simulator::DEFAULT_API_KEY;

/// The client-facing names the walkthrough calls.
pub const DEMO_MODELS: [&str; 4] = ["gpt-4o", "claude-3-5-sonnet", "gemini-pro", "mistral-large"];

/// The demo's embedding and rerank models (SPEC §12), for RAG tools (Dify, Open
/// WebUI) tried offline: name, provider, kind.
pub const DEMO_RAG_MODELS: [(&str, ProviderKind, ModelKind); 2] = [
    (
        "text-embedding-3-small",
        ProviderKind::OpenAi,
        ModelKind::Embedding,
    ),
    ("rerank-v3.5", ProviderKind::Cohere, ModelKind::Rerank),
];

/// Default deployment of a demo model missing from config: provider, model id, prices.
fn default_deployment(name: &str) -> (ProviderKind, &'static str, f64, f64) {
    match name {
        "gpt-4o" => (ProviderKind::OpenAi, "gpt-4o", 2.5, 10.0),
        "claude-3-5-sonnet" => (ProviderKind::Anthropic, "claude-sonnet-4-5", 3.0, 15.0),
        "gemini-pro" => (ProviderKind::Gemini, "gemini-2.5-pro", 1.25, 10.0),
        _ => (ProviderKind::Mistral, "mistral-large-latest", 0.5, 1.5),
    }
}

/// The ids Claude Code asks for, routed to the demo's Claude model when no config names
/// them: its default (`claude-opus-4-8` in 2.1.197), the Haiku it uses for titles and
/// summaries, and the Sonnet ids of `--model`.
pub const CLAUDE_CODE_ALIASES: [&str; 6] = [
    "claude-opus-4-8",
    "claude-sonnet-4-5",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5",
    "claude-haiku-4-5-20251001",
    "claude-3-5-sonnet-latest",
];

/// The simulator's base URL for a provider.
pub fn simulator_base(addr: SocketAddr, provider: ProviderKind) -> String {
    let prefix = match provider {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => "openai/v1",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Gemini => "gemini",
        ProviderKind::Mistral => "mistral/v1",
        ProviderKind::Cohere => "cohere",
    };
    format!("http://{addr}/{prefix}")
}

/// Points every deployment of the demo models at the simulator (adding missing ones).
pub fn route_demo_models(config: &mut Config, addr: SocketAddr) {
    for name in DEMO_MODELS {
        if !config.models.iter().any(|m| m.name == name) {
            let (provider, model, input, output) = default_deployment(name);
            config.models.push(ModelConfig {
                input_cost_per_mtok: Some(input),
                output_cost_per_mtok: Some(output),
                timeout_s: 60,
                ..ModelConfig::new(name, provider, model)
            });
        }
    }
    for (name, provider, kind) in DEMO_RAG_MODELS {
        if !config.models.iter().any(|m| m.name == name) {
            config.models.push(ModelConfig {
                kind,
                // OpenAI's list price; Cohere's is per search.
                input_cost_per_mtok: (kind == ModelKind::Embedding).then_some(0.02),
                cost_per_request: (kind == ModelKind::Rerank).then_some(0.002),
                timeout_s: 60,
                ..ModelConfig::new(name, provider, name)
            });
        }
    }
    let taken: Vec<String> = config
        .models
        .iter()
        .flat_map(|m| std::iter::once(m.name.clone()).chain(m.aliases.iter().cloned()))
        .collect();
    for m in config
        .models
        .iter_mut()
        .filter(|m| m.name == "claude-3-5-sonnet")
    {
        for alias in CLAUDE_CODE_ALIASES {
            if !taken.iter().any(|t| t == alias) {
                m.aliases.push(alias.to_string());
            }
        }
    }
    for m in config.models.iter_mut().filter(|m| {
        DEMO_MODELS.contains(&m.name.as_str())
            || DEMO_RAG_MODELS.iter().any(|(name, ..)| *name == m.name)
    }) {
        m.api_base = Some(simulator_base(addr, m.provider));
        m.api_key = Some(Secret::literal(DEFAULT_API_KEY));
    }
}
