//! Gemini stream translation: each `data:` event is a whole `GenerateContentResponse`;
//! there is no `[DONE]`, so the stream is complete only if a `finishReason` was seen.

use super::*;

/// Per-stream state: ids, tool index, whether a finish was seen, the latest usage.
pub(crate) struct StreamState {
    id: Option<String>,
    created: u64,
    model: String,
    started: bool,
    tools: u32,
    finished: bool,
    usage: Option<Usage>,
}

impl StreamState {
    pub(crate) fn new(model: &str) -> StreamState {
        StreamState {
            id: None,
            created: unix_now(),
            model: model.into(),
            started: false,
            tools: 0,
            finished: false,
            usage: None,
        }
    }

    fn chunk(&self, index: u32, delta: Delta, finish_reason: Option<FinishReason>) -> ChatChunk {
        let id = self.id.as_deref().unwrap_or_default();
        ChatChunk::single(
            id,
            self.created,
            &self.model,
            ChunkChoice {
                index,
                delta,
                finish_reason,
                logprobs: None,
            },
        )
    }

    /// Keep the first id, the latest model version and the latest (running) usage.
    fn remember(&mut self, resp: &GenerateResponse) {
        if self.id.is_none() {
            self.id = Some(
                resp.response_id
                    .clone()
                    .unwrap_or_else(|| mint_id("chatcmpl-")),
            );
        }
        if let Some(version) = &resp.model_version {
            self.model = version.clone();
        }
        if let Some(usage) = &resp.usage_metadata {
            self.usage = Some(usage.canonical());
        }
    }

    fn candidate(&mut self, position: usize, c: Candidate, out: &mut Vec<ChatChunk>) {
        let index = c.index.unwrap_or(position as u32);
        let (text, calls) = split_parts(c.content.map(|c| c.parts).unwrap_or_default());
        let tool_calls: Vec<ToolCallDelta> = calls
            .into_iter()
            .map(|(name, args)| {
                self.tools += 1;
                ToolCallDelta {
                    index: self.tools - 1,
                    id: Some(mint_id("call_")),
                    name: Some(name),
                    arguments: Some(args),
                }
            })
            .collect();
        if !text.is_empty() || !tool_calls.is_empty() {
            let content = (!text.is_empty()).then_some(text);
            let mut chunk = self.chunk(
                index,
                Delta {
                    content,
                    tool_calls,
                    ..Delta::default()
                },
                None,
            );
            if let Some(choice) = chunk.choices.first_mut() {
                choice.logprobs = c.logprobs_result.as_ref().map(|l| l.openai());
            }
            out.push(chunk);
        }
        if let Some(reason) = c.finish_reason {
            self.finished = true;
            out.push(self.chunk(
                index,
                Delta::default(),
                Some(finish_reason(Some(&reason), self.tools > 0)),
            ));
        }
    }
}

impl EventTranslator for StreamState {
    fn chunk_from_event(&mut self, ev: &SseEvent<'_>) -> Result<Vec<ChatChunk>, UpstreamError> {
        // Typed parse first; only an event that may be an error goes through a Value.
        let typed = (!ev.data.contains("\"error\""))
            .then(|| serde_json::from_str::<GenerateResponse>(ev.data).ok())
            .flatten();
        let resp = match typed {
            Some(resp) => resp,
            None => {
                let v: Value = parse_event(ev.data)?;
                if v.get("error").is_some() {
                    return Err(stream_error(&v, ev.data));
                }
                serde_json::from_value(v)
                    .map_err(|e| UpstreamError::Protocol(format!("bad chunk: {e}")))?
            }
        };
        self.remember(&resp);
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(self.chunk(0, Delta::start(), None));
        }
        if resp.candidates.is_empty()
            && resp
                .prompt_feedback
                .is_some_and(|f| f.block_reason.is_some())
        {
            self.finished = true;
            out.push(self.chunk(0, Delta::default(), Some(FinishReason::ContentFilter)));
        }
        for (i, c) in resp.candidates.into_iter().enumerate() {
            self.candidate(i, c, &mut out);
        }
        Ok(out)
    }

    fn is_done(&self) -> bool {
        false
    }

    fn finish(&mut self) -> Result<Vec<ChatChunk>, UpstreamError> {
        if !self.finished {
            return Err(UpstreamError::Protocol(
                "the stream ended without a finishReason".into(),
            ));
        }
        let id = self.id.clone().unwrap_or_default();
        Ok(self
            .usage
            .map(|u| ChatChunk::usage_only(&id, self.created, &self.model, u))
            .into_iter()
            .collect())
    }
}

/// An in-stream `{"error":{code,…}}`: a status error with Gemini's code.
fn stream_error(v: &Value, data: &str) -> UpstreamError {
    let code = v
        .pointer("/error/code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok());
    http::status_error(
        code.unwrap_or(500),
        error_from_wire(500, data.as_bytes()),
        None,
    )
}
