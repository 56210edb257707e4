//! Fast readers for the two Anthropic stream events every stream has besides its text
//! deltas: `message_start` and `message_delta`. They take the ordinary shapes (an empty
//! content list, plain strings, integer usage) without building anything, and return
//! `None` for anything else, which then goes through serde, the final word on errors.
//! Each refuses what serde would refuse: a missing or doubled field it reads, a null
//! or a float where serde wants an integer.

use super::stream::StopDelta;
use super::{MessageResponse, WireUsage};
use crate::proxy::json_scan::{once, Reader};

/// `message_start`'s message, when its content is empty and its strings are plain.
pub(super) fn message_start(data: &str) -> Option<MessageResponse> {
    let mut r = Reader::new(data);
    let mut message = None;
    r.object(|r, key| {
        match key {
            "message" => once(&mut message, r.start_message()?)?,
            _ => r.skip_value(0)?,
        }
        Some(())
    })?;
    r.end()?;
    message
}

/// `message_delta`'s stop reason and usage.
pub(super) fn message_delta(data: &str) -> Option<(StopDelta, WireUsage)> {
    let mut r = Reader::new(data);
    let (mut stop, mut usage) = (None, None);
    r.object(|r, key| {
        match key {
            "delta" => once(&mut stop, r.stop_delta()?)?,
            "usage" => once(&mut usage, r.wire_usage()?)?,
            _ => r.skip_value(0)?,
        }
        Some(())
    })?;
    r.end()?;
    let stop_reason = stop?.map(str::to_string);
    Some((StopDelta { stop_reason }, usage.unwrap_or_default()))
}

impl<'a> Reader<'a> {
    /// The message of `message_start`: id, model, an empty content list, the stop
    /// reason and usage; other fields skipped.
    fn start_message(&mut self) -> Option<MessageResponse> {
        let (mut id, mut model, mut content, mut stop_reason, mut usage) =
            (None, None, None, None, None);
        self.object(|r, key| {
            match key {
                "id" => once(&mut id, r.plain_string()?)?,
                "model" => once(&mut model, r.plain_string()?)?,
                "content" => once(&mut content, r.empty_array().then_some(())?)?,
                "stop_reason" => once(&mut stop_reason, r.or_null(Reader::plain_string)?)?,
                "usage" => once(&mut usage, r.wire_usage()?)?,
                _ => r.skip_value(1)?,
            }
            Some(())
        })?;
        Some(MessageResponse {
            id: id?.to_string(),
            model: model?.to_string(),
            content: Vec::new(),
            stop_reason: stop_reason.flatten().map(str::to_string),
            usage: usage.unwrap_or_default(),
        })
    }

    /// `message_delta`'s delta: its stop reason (null or absent is none).
    fn stop_delta(&mut self) -> Option<Option<&'a str>> {
        let mut stop_reason = None;
        self.object(|r, key| {
            match key {
                "stop_reason" => once(&mut stop_reason, r.or_null(Reader::plain_string)?)?,
                _ => r.skip_value(1)?,
            }
            Some(())
        })?;
        Some(stop_reason.flatten())
    }

    /// A usage object: the token counts serde reads, others skipped.
    fn wire_usage(&mut self) -> Option<WireUsage> {
        let (mut input, mut output, mut created, mut read) = (None, None, None, None);
        let mut created_1h: Option<u64> = None;
        self.object(|r, key| {
            match key {
                "input_tokens" => once(&mut input, r.unsigned()?)?,
                "output_tokens" => once(&mut output, r.unsigned()?)?,
                "cache_creation_input_tokens" => once(&mut created, r.or_null(Reader::unsigned)?)?,
                "cache_read_input_tokens" => once(&mut read, r.or_null(Reader::unsigned)?)?,
                // The cache writes by TTL: the 1-hour ones are priced apart.
                "cache_creation" => r.object(|r, key| {
                    match key {
                        "ephemeral_1h_input_tokens" => once(&mut created_1h, r.unsigned()?)?,
                        _ => r.skip_value(2)?,
                    }
                    Some(())
                })?,
                _ => r.skip_value(2)?,
            }
            Some(())
        })?;
        Some(WireUsage {
            input_tokens: input.unwrap_or(0),
            output_tokens: output.unwrap_or(0),
            cache_creation_input_tokens: created.flatten(),
            cache_read_input_tokens: read.flatten(),
            cache_creation: created_1h.map(|n| super::CacheCreation {
                ephemeral_1h_input_tokens: n,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::stream::{MessageDeltaEvent, MessageStartEvent};
    use super::*;

    type UsageView = (u64, u64, Option<u64>, Option<u64>);

    fn usage_view(u: &WireUsage) -> UsageView {
        (
            u.input_tokens,
            u.output_tokens,
            u.cache_creation_input_tokens,
            u.cache_read_input_tokens,
        )
    }

    fn start_view(m: &MessageResponse) -> (String, String, usize, Option<String>, UsageView) {
        (
            m.id.clone(),
            m.model.clone(),
            m.content.len(),
            m.stop_reason.clone(),
            usage_view(&m.usage),
        )
    }

    const START: &str = r#"{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":3,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}"#;
    const DELTA: &str = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#;

    /// The fast reader takes what it can and then agrees with serde; what it leaves
    /// (`None`) goes to serde, and what serde refuses it never takes.
    fn check_start(data: &str, fast_expected: bool) {
        let fast = message_start(data);
        let typed = serde_json::from_str::<MessageStartEvent>(data).ok();
        assert_eq!(fast.is_some(), fast_expected, "{data}");
        if let Some(f) = &fast {
            let t = typed
                .as_ref()
                .expect("serde takes what the fast reader takes");
            assert_eq!(start_view(f), start_view(&t.message), "{data}");
        }
    }

    fn check_delta(data: &str, fast_expected: bool) {
        let fast = message_delta(data);
        let typed = serde_json::from_str::<MessageDeltaEvent>(data).ok();
        assert_eq!(fast.is_some(), fast_expected, "{data}");
        if let Some((d, u)) = &fast {
            let t = typed
                .as_ref()
                .expect("serde takes what the fast reader takes");
            assert_eq!(d.stop_reason, t.delta.stop_reason, "{data}");
            assert_eq!(usage_view(u), usage_view(&t.usage), "{data}");
        }
    }

    #[test]
    fn ordinary_message_starts_are_read_as_serde_reads_them() {
        check_start(START, true);
        check_start(
            r#" { "message" : { "model" : "m" , "id" : "i" } , "type" : "message_start" } "#,
            true,
        );
        check_start(
            r#"{"message":{"id":"i","model":"m","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2,"cache_read_input_tokens":null}}}"#,
            true,
        );
    }

    #[test]
    fn unusual_message_starts_are_left_to_serde() {
        for data in [
            // Content already present, escaped strings, nulls and floats where serde wants
            // integers, missing or doubled fields, trailing bytes.
            r#"{"message":{"id":"i","model":"m","content":[{"type":"text","text":"x"}]}}"#,
            r#"{"message":{"id":"i\u0041","model":"m"}}"#,
            r#"{"message":{"id":"i","model":"m","usage":{"input_tokens":null}}}"#,
            r#"{"message":{"id":"i","model":"m","usage":{"input_tokens":1.0}}}"#,
            r#"{"message":{"id":"i","model":"m","usage":{"input_tokens":-1}}}"#,
            r#"{"message":{"id":"i","model":"m","usage":null}}"#,
            r#"{"message":{"id":"i","model":"m","content":null}}"#,
            r#"{"message":{"model":"m"}}"#,
            r#"{"message":{"id":"i","id":"j","model":"m"}}"#,
            r#"{"message":{"id":"i","model":"m"},"message":{"id":"i","model":"m"}}"#,
            r#"{"type":"message_start"}"#,
            r#"{"message":{"id":"i","model":"m"}} x"#,
            r#"{"message":{"id":"i","model":"m","usage":{"input_tokens":99999999999999999999}}}"#,
        ] {
            check_start(data, false);
        }
    }

    #[test]
    fn message_deltas_are_read_as_serde_reads_them_or_left_to_it() {
        check_delta(DELTA, true);
        check_delta(r#"{"delta":{}}"#, true);
        check_delta(
            r#"{"delta":{"stop_reason":null},"usage":{"output_tokens":3,"input_tokens":2}}"#,
            true,
        );
        for data in [
            r#"{"usage":{"output_tokens":15}}"#,
            r#"{"delta":null}"#,
            r#"{"delta":{"stop_reason":"a\"b"}}"#,
            r#"{"delta":{"stop_reason":"a","stop_reason":"b"}}"#,
            r#"{"delta":{},"usage":null}"#,
            r#"{"delta":{},"usage":{"output_tokens":"15"}}"#,
        ] {
            check_delta(data, false);
        }
    }
}
