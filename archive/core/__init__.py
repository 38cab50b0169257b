"""The ground floor: configuration, errors, time codes, the records and the store, the model files.

Imports nothing of the archive above it (tests/test_layers.py)."""
