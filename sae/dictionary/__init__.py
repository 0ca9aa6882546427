"""Sparse dictionaries and their one training engine: `model` (encode / decode / forward),
`sparse` + `kernels` (sparse codes), `train` (the engine), `sweep`, `metrics` (held-out and
spliced), `evaluate` (`python -m sae.dictionary.evaluate`), `cli` (behind train_sae.py), `plots`.
"""
