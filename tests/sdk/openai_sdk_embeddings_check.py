"""Drives a running Tollgate's embeddings with the official OpenAI Python SDK.

Usage: python3 openai_sdk_embeddings_check.py BASE_URL API_KEY CHAT_MODEL EMBED_MODEL [EMBED_MODEL ...]
For each embedding model: embeddings.create with the SDK's default (it asks for base64
and decodes it), with encoding_format="float", and with dimensions; then the typed
error for a chat model called as an embedding model. Prints one JSON line per call and
exits non-zero on the first failure.
"""
import json
import math
import sys

import openai
from openai import OpenAI


def main() -> int:
    base_url, api_key, chat_model, models = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    for model in models:
        texts = ["知识库里的第一段", "the second passage", "第三段"]
        default = client.embeddings.create(model=model, input=texts)
        assert len(default.data) == 3, f"{model}: {len(default.data)} vectors"
        assert [d.index for d in default.data] == [0, 1, 2]
        vec = default.data[0].embedding
        assert isinstance(vec, list) and vec and all(isinstance(x, float) for x in vec), f"{model}: not floats"
        assert any(abs(x) > 0 for x in vec), f"{model}: all zeros"
        assert default.usage.prompt_tokens > 0, f"{model}: no usage"
        print(json.dumps({"model": model, "format": "default", "dims": len(vec)}))

        floats = client.embeddings.create(model=model, input=texts, encoding_format="float")
        same = all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(floats.data[0].embedding, vec))
        assert same, f"{model}: base64 and float differ"
        print(json.dumps({"model": model, "format": "float", "dims": len(floats.data[0].embedding)}))

        sized = client.embeddings.create(model=model, input="一段话", dimensions=16)
        assert len(sized.data[0].embedding) == 16, f"{model}: dimensions ignored"
        print(json.dumps({"model": model, "dimensions": 16}))

    try:
        client.embeddings.create(model=chat_model, input="x")
    except openai.BadRequestError as e:
        assert "chat" in str(e), str(e)
        print(json.dumps({"model": chat_model, "error": e.status_code}))
    else:
        raise AssertionError("a chat model answered as an embedding model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
