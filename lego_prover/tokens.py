"""Token counting with OpenAI's cl100k_base, offline (``bpe-openai`` ships the table)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import bpe_openai

    return bpe_openai.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    return len(_encoding().encode_ordinary(text))
