"""The activation store and how it is filled: `store` (the on-disk format), `collect`
(the agent's activations on real games; `python -m sae.activations`), `batches` (shuffled
training rows for dictionaries).
"""
