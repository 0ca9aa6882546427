"""Explanations that hold: an exact program for every latent that has one, judged on held-out
games, and an honest "unexplained" for the rest.

`vocabulary` (the exact predicates), `bits` (bitsets and compiled counts), `search` (small
programs for all latents at once), `stats` (held-out scores, support, game-bootstrap
intervals), `explainer` (the two halves and scopes), `effects` (what a latent's decoder
direction does to the agent's play), `report` (`python -m sae.explain`), `table`.
"""
