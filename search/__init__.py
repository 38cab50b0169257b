"""Search: the embedder, index writes (FTS5 + vectors) and queries."""
