//! Metering: token usage from an OpenAI-compatible response (a JSON body or an SSE
//! stream) and the fee it costs at the service's on-chain prices.

use alloy_primitives::U256;
use serde_json::Value;

/// Tokens one request used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt (input) tokens.
    pub prompt_tokens: u64,
    /// Completion (output) tokens.
    pub completion_tokens: u64,
}

impl Usage {
    /// `(input fee, output fee, total)` at `input_price` and `output_price` per token.
    pub fn fees(&self, input_price: U256, output_price: U256) -> (U256, U256, U256) {
        let i = input_price.saturating_mul(U256::from(self.prompt_tokens));
        let o = output_price.saturating_mul(U256::from(self.completion_tokens));
        (i, o, i.saturating_add(o))
    }
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage")?;
    let get = |k: &str| u.get(k).and_then(Value::as_u64);
    // Chat/completions name them prompt/completion; embeddings only prompt/total;
    // Anthropic-style messages input/output.
    let prompt = get("prompt_tokens")
        .or_else(|| get("input_tokens"))
        .unwrap_or(0);
    let completion = get("completion_tokens")
        .or_else(|| get("output_tokens"))
        .unwrap_or(0);
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
    })
}

/// The usage of a whole JSON response body.
pub fn from_json(body: &[u8]) -> Option<Usage> {
    usage_of(&serde_json::from_slice(body).ok()?)
}

/// Follows an SSE stream chunk by chunk: the last non-zero `usage` wins (0G's rule);
/// the words of the streamed text are counted for when no usage comes.
#[derive(Debug, Default)]
pub struct SseMeter {
    line: Vec<u8>,
    words: u64,
    /// The usage seen so far.
    pub usage: Option<Usage>,
    /// Whether `data: [DONE]` arrived.
    pub done: bool,
}

impl SseMeter {
    /// A token per streamed word (0G's fallback without usage).
    pub fn fallback(&self) -> Usage {
        Usage {
            prompt_tokens: 0,
            completion_tokens: self.words,
        }
    }

    /// Feeds bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
            } else if self.line.len() < 1 << 20 {
                self.line.push(b);
            }
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.done = true;
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        for c in v
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = c
                .pointer("/delta/content")
                .or_else(|| c.get("text"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.words += text.split_whitespace().count() as u64;
        }
        if let Some(u) = usage_of(&v)
            && u != Usage::default()
        {
            self.usage = Some(u);
        }
    }
}

/// For a streaming request, asks the upstream to report usage in the last chunk
/// (`stream_options.include_usage = true`, whatever the client put there); returns
/// whether the request streams.
pub fn ensure_stream_usage(body: &mut Value) -> bool {
    let streams = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if streams && let Some(obj) = body.as_object_mut() {
        let opts = obj
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Default::default()));
        if !opts.is_object() {
            *opts = Value::Object(Default::default());
        }
        if let Some(o) = opts.as_object_mut() {
            o.insert("include_usage".into(), Value::Bool(true));
        }
    }
    streams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_sse_usage() {
        let body =
            br#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}"#;
        let u = from_json(body).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (3, 5));
        assert_eq!(
            u.fees(U256::from(10), U256::from(100)),
            (U256::from(30), U256::from(500), U256::from(530))
        );
        assert_eq!(from_json(b"{}"), None);
        assert_eq!(from_json(b"not json"), None);

        let mut m = SseMeter::default();
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0}}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\r\n\r\n\
                      data: [DONE]\n\n";
        // Fed in awkward pieces.
        for piece in stream.as_bytes().chunks(7) {
            m.feed(piece);
        }
        assert!(m.done);
        assert_eq!(m.fallback().completion_tokens, 1);
        assert_eq!(
            m.usage,
            Some(Usage {
                prompt_tokens: 4,
                completion_tokens: 2
            })
        );

        let mut v: Value = serde_json::json!({"stream": true, "messages": []});
        assert!(ensure_stream_usage(&mut v));
        assert_eq!(v["stream_options"]["include_usage"], true);
        let mut v: Value = serde_json::json!({"stream": true, "stream_options": null});
        assert!(ensure_stream_usage(&mut v));
        assert_eq!(v["stream_options"]["include_usage"], true);
        let mut v: Value = serde_json::json!({"messages": []});
        assert!(!ensure_stream_usage(&mut v));
        assert!(v.get("stream_options").is_none());
    }
}
