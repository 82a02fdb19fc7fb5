"""The HTTP face: REST under /api/v1, the OpenAI-compatible /v1, and the MCP tools."""
