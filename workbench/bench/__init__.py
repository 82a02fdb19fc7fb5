"""Benchmarks: ingest, embedding, search and chat figures, printed as tables and stored as JSON."""
