"""Selection by meaning: every dictionary of a finished sweep measured for what it explains
(`python -m sae.frontier SWEEP`), the frontier of explained fraction against FVU, the best
by a stated rule, and the per-site heatmap."""
