"""The skill library: verified lemmas, open requests and target problems (chromadb)."""
