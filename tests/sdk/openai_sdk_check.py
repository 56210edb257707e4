"""Drives a running Tollgate with the official OpenAI Python SDK.

Usage: python3 openai_sdk_check.py BASE_URL API_KEY MODEL [MODEL ...]
For each model: one normal and one streaming chat completion, and the same through
the Responses API (responses.create and responses.stream). Prints one JSON line
per call and exits non-zero on the first failure.
"""
import json
import sys

from openai import OpenAI


def main() -> int:
    base_url, api_key, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    for model in models:
        resp = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "1+1等于几？"}]
        )
        text = resp.choices[0].message.content
        assert text, f"{model}: empty reply"
        assert resp.usage and resp.usage.total_tokens > 0, f"{model}: no usage"
        print(json.dumps({"model": model, "stream": False, "text": text, "tokens": resp.usage.total_tokens}))

        parts, usage = [], None
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "写一首关于春天的诗"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    parts.append(choice.delta.content)
        assert parts, f"{model}: empty stream"
        assert usage and usage.total_tokens > 0, f"{model}: no usage chunk"
        print(json.dumps({"model": model, "stream": True, "text": "".join(parts), "tokens": usage.total_tokens}))

        # The Responses API (Codex, the Agents SDK): create and stream.
        r = client.responses.create(model=model, input="1+1等于几？", instructions="Answer briefly.")
        assert r.output_text, f"{model}: empty response"
        assert r.usage and r.usage.output_tokens > 0, f"{model}: no response usage"
        print(json.dumps({"model": model, "responses": True, "text": r.output_text}))
        deltas, completed = [], None
        with client.responses.stream(model=model, input="写一首关于春天的诗") as rs:
            for event in rs:
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
                elif event.type == "response.completed":
                    completed = event.response
        assert deltas and completed and completed.usage.total_tokens > 0, f"{model}: bad response stream"
        print(json.dumps({"model": model, "responses": True, "stream": True, "text": "".join(deltas)[:40]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
