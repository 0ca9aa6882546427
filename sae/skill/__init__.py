"""The skill-adaptation study, scored by the exact solver: `levels` (the skill axis),
`awareness`, `calibrate`, `study` (`python -m sae.skill`), `plots`.
"""
