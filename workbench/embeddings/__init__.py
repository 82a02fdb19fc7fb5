"""Embeddings: the sentence-transformers model, pooling, the bulk encoder and the query encoder."""
