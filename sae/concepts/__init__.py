"""Which exact board concepts a dictionary's latents carry: `labels` (concept columns),
`auc`, `board_metrics` (Karvonen coverage / reconstruction), `sparse_probing`, `absorption`,
`analysis`, `baselines` (neurons, random net), `inputs`, `report` (`python -m sae.concepts`),
`table` (the printed summary).
"""
