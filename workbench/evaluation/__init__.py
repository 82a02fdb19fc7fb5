"""Evaluation: metrics, eval sets, stored runs, notebook batches with their gate, the schedule."""
