"""Linear probes for every concept family at every hook site of several checkpoints: `fit`
(many logistic regressions at once), `report` (`python -m sae.probes`), `plots`.
"""
