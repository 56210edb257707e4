//! Deployments and routing: every `[[models]]` entry is a deployment of its `name`.
//! Requests are spread round-robin across a name's deployments; a retryable failure
//! (connect error, timeout, 429, 5xx) moves to the next one with backoff, bounded by
//! `max_retries`. Deployments at their own rpm/tpm limit are tried last.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::client::{Client, Routes};

use super::limits::Window;
use super::{ChatRequest, ChatResponse, ChunkStream, Upstream, UpstreamError};
use crate::config::ModelConfig;
use crate::domain::pricing::{self, ModelPrice};
use crate::fast_map::FastMap;

/// One configured deployment.
#[derive(Debug)]
pub struct Deployment {
    /// Position in config among all `[[models]]` (shown in logs).
    pub index: usize,
    /// Where and how to call it.
    pub upstream: Upstream,
    /// Its prices.
    pub price: ModelPrice,
    /// Extra attempts after a retryable failure.
    pub max_retries: u32,
    /// Per-deployment rpm/tpm window.
    pub window: Window,
    /// Request shape of an `openai_compatible` rerank model.
    pub rerank_format: crate::config::RerankFormat,
}

/// All deployments of one client-facing model name.
#[derive(Debug)]
pub struct ModelGroup {
    /// The client-facing (canonical) name.
    pub name: String,
    /// Other names that route here.
    pub aliases: Vec<String>,
    /// Which door may call it.
    pub kind: crate::config::ModelKind,
    /// Its deployments, in config order.
    pub deployments: Vec<Deployment>,
    next: AtomicUsize,
}

/// Client model name → deployments.
#[derive(Debug, Default)]
pub struct Router {
    groups: FastMap<String, ModelGroup>,
    names: Vec<String>,
    /// Alias → canonical name.
    aliases: FastMap<String, String>,
}

impl Router {
    /// Builds the router from config; `routes` were resolved from the same config.
    pub fn new(models: &[ModelConfig], routes: &Routes) -> Router {
        let mut groups: FastMap<String, ModelGroup> = FastMap::default();
        let mut names = Vec::new();
        let mut aliases: FastMap<String, String> = FastMap::default();
        for (index, m) in models.iter().enumerate() {
            let price = pricing::resolve(m);
            if !price.known {
                tracing::warn!(model = %m.name, "no price configured or known; requests to it cost 0");
            }
            let deployment = Deployment {
                index,
                upstream: Upstream {
                    provider: m.provider,
                    model_id: m.model.clone(),
                    api_base: m.api_base(),
                    api_key: m
                        .api_key
                        .as_ref()
                        .and_then(|k| k.expose().map(str::to_string)),
                    timeout: Duration::from_secs(m.timeout_s),
                    route: routes.of_deployment(index).0,
                },
                price,
                max_retries: m.max_retries,
                window: Window::new(m.rpm, m.tpm),
                rerank_format: m.rerank_format,
            };
            let group = groups.entry(m.name.clone()).or_insert_with(|| {
                names.push(m.name.clone());
                ModelGroup {
                    name: m.name.clone(),
                    aliases: Vec::new(),
                    kind: m.kind,
                    deployments: Vec::new(),
                    next: AtomicUsize::new(0),
                }
            });
            for alias in &m.aliases {
                if !group.aliases.contains(alias) {
                    group.aliases.push(alias.clone());
                }
                aliases.insert(alias.clone(), m.name.clone());
            }
            group.deployments.push(deployment);
        }
        Router {
            groups,
            names,
            aliases,
        }
    }

    /// The deployments of `name`, a model's name or one of its aliases.
    pub fn group(&self, name: &str) -> Option<&ModelGroup> {
        self.groups.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|canonical| self.groups.get(canonical))
        })
    }

    /// Every deployment with its model name, in config order.
    pub fn deployments(&self) -> impl Iterator<Item = (&str, &Deployment)> {
        let mut all: Vec<(&str, &Deployment)> = self
            .names
            .iter()
            .filter_map(|n| self.groups.get(n))
            .flat_map(|g| g.deployments.iter().map(move |d| (g.name.as_str(), d)))
            .collect();
        all.sort_by_key(|(_, d)| d.index);
        all.into_iter()
    }

    /// Every client-facing model name, in config order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// A successful upstream call.
pub enum Answer {
    /// Non-streamed response.
    Complete(ChatResponse),
    /// Streamed response.
    Stream(ChunkStream),
}

/// The failure of the last attempt, and which deployment it was.
pub struct Failure<'a> {
    pub error: UpstreamError,
    pub deployment: &'a Deployment,
}

impl ModelGroup {
    /// Deployments in the order to try them for one request: round-robin start,
    /// those under their rpm/tpm limit first.
    pub fn order(&self, now_s: i64) -> Vec<&Deployment> {
        let n = self.deployments.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n.max(1);
        let mut order: Vec<&Deployment> =
            (0..n).map(|i| &self.deployments[(start + i) % n]).collect();
        order.sort_by_key(|d| !d.window.has_room(now_s));
        order
    }

    /// The worst-case price across deployments (reservations must cover any of them).
    pub fn worst_price(&self) -> Option<&ModelPrice> {
        self.deployments
            .iter()
            .map(|d| &d.price)
            .max_by_key(|p| p.worst_case(1000, None))
    }

    /// Calls deployments until one answers or the retry budget is spent.
    pub async fn call<'a>(
        &'a self,
        http: &Client,
        req: &ChatRequest,
        now_s: i64,
    ) -> Result<(Answer, &'a Deployment), Failure<'a>> {
        let order = self.order(now_s);
        let attempts = 1 + order.first().map_or(0, |d| d.max_retries as usize);
        let mut last: Option<Failure<'a>> = None;
        for attempt in 0..attempts {
            let d = order[attempt % order.len()];
            d.window.count_request(now_s);
            let result = if req.stream {
                super::stream(http, &d.upstream, req)
                    .await
                    .map(Answer::Stream)
            } else {
                super::complete(http, &d.upstream, req)
                    .await
                    .map(Answer::Complete)
            };
            match result {
                Ok(answer) => return Ok((answer, d)),
                Err(error) => {
                    let retry = error.is_retryable() && attempt + 1 < attempts;
                    let wait = backoff(attempt, error.retry_after());
                    tracing::warn!(model = %self.name, deployment = d.index, error = %error, retry, "upstream attempt failed");
                    last = Some(Failure {
                        error,
                        deployment: d,
                    });
                    if !retry {
                        break;
                    }
                    actix_web::rt::time::sleep(wait).await;
                }
            }
        }
        Err(last.unwrap_or_else(|| Failure {
            error: UpstreamError::Connect("no deployment".into()),
            deployment: &self.deployments[0],
        }))
    }
}

/// Exponential backoff from 100 ms, honouring a provider's retry-after up to 5 s.
fn backoff(attempt: usize, retry_after: Option<Duration>) -> Duration {
    let exp = Duration::from_millis(100u64 << attempt.min(5));
    retry_after.map_or(exp, |r| r.min(Duration::from_secs(5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after_within_bounds() {
        assert_eq!(backoff(0, None), Duration::from_millis(100));
        assert_eq!(backoff(2, None), Duration::from_millis(400));
        assert_eq!(
            backoff(0, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff(0, Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }
}
