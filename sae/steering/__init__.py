"""Steering: edit a dictionary's latents inside the running agent, keeping its error term.

`edit` (edits, hooks, the steered player), `player` (the `+steer:` player spec, registered
with the agent's `az:` spec when this package is imported), `effect` (an edit's effect beside
its controls), `dose` (dose-response sweeps), `threats` (what "protect" and "resolve" mean),
`cli` (`python -m sae.steering`).
"""

from sae.steering import player  # noqa: F401  (registers the +steer: player spec)
