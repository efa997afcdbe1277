"""The LLM layer: one interface over OpenAI-compatible servers, local models, a cache and budgets."""
