"""Drives a running Tollgate's Messages door with the official Anthropic Python SDK.

Usage: python3 anthropic_sdk_check.py BASE_URL API_KEY MODEL [MODEL ...]
For each model: messages.create, messages.stream (text and final message),
a tool call round trip is left to the Rust tests; count_tokens and models.list once.
Prints one JSON line per call and exits non-zero on the first failure.
"""
import json
import sys

import anthropic


def main() -> int:
    base_url, api_key, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    for auth in ("x-api-key", "bearer"):
        if auth == "x-api-key":
            client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)
        else:
            client = anthropic.Anthropic(base_url=base_url, auth_token=api_key, max_retries=0)
        for model in models:
            msg = client.messages.create(
                model=model,
                max_tokens=200,
                system="Answer briefly.",
                messages=[{"role": "user", "content": "1+1等于几？"}],
            )
            text = "".join(b.text for b in msg.content if b.type == "text")
            assert text, f"{model}: empty reply"
            assert msg.usage.output_tokens > 0, f"{model}: no usage"
            assert msg.stop_reason == "end_turn", msg.stop_reason
            print(json.dumps({"auth": auth, "model": model, "stream": False, "text": text}))

            with client.messages.stream(
                model=model,
                max_tokens=200,
                messages=[{"role": "user", "content": "写一首关于春天的诗"}],
            ) as stream:
                streamed = "".join(stream.text_stream)
                final = stream.get_final_message()
            assert streamed, f"{model}: empty stream"
            assert final.usage.output_tokens > 0, f"{model}: no streamed usage"
            print(json.dumps({"auth": auth, "model": model, "stream": True, "text": streamed[:40]}))
    counted = client.messages.count_tokens(
        model=models[0], messages=[{"role": "user", "content": "hello there"}]
    )
    assert counted.input_tokens > 0
    listed = [m.id for m in client.models.list()]
    assert set(models) <= set(listed), listed
    try:
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("an unknown model must fail")
    except anthropic.NotFoundError as e:
        assert e.body["error"]["type"] == "not_found_error", e.body
    print(json.dumps({"count_tokens": counted.input_tokens, "models": len(listed)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
