"""Text: cleaning and PII redaction, chunking, time phrases, rendering conversations."""
