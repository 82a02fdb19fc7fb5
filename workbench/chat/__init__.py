"""Chat: a turn over retrieved memories, the OpenAI-compatible client and the embedded LLM server."""
