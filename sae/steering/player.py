"""The steered agent as a player spec: `az:CHECKPOINT[:SIMS]+steer:DICT:LATENTS:OP:VALUE`.

LATENTS as `12,40,7` (ranges `3-5` allowed), OP one of scale, clamp, zero, add; several
`+steer:` parts on one dictionary compose in order. Importing `sae.steering` registers the
suffix with the agent's `az:` spec (`alphazero.agent.register_az_extension`), so any command
line that imports it, `play.py` among them, accepts steered players.
"""

from __future__ import annotations

from alphazero.agent import register_az_extension
from sae.steering.edit import (
    Edit,
    SteeringError,
    check_edits,
    load_for_agent,
    parse_latents,
    steered_player,
)

SPEC_FORM = "steer:DICT:LATENTS:OP:VALUE"


def parse_steer(text: str) -> tuple[str, list[Edit]]:
    """'steer:DICT:LATENTS:OP:VALUE[+steer:...]' -> (DICT, edits); one dictionary."""
    paths, edits = set(), []
    for part in text.split("+"):
        if not part.startswith("steer:"):
            raise SteeringError(f"expected {SPEC_FORM} after '+', got {part!r}")
        fields = part.removeprefix("steer:").rsplit(":", 3)
        if len(fields) != 4 or not all(fields):
            raise SteeringError(f"{part!r} must have the form {SPEC_FORM}")
        path, latents, op, value = fields
        try:
            number = float(value)
        except ValueError:
            raise SteeringError(f"VALUE must be a number, got {value!r} in {part!r}") from None
        paths.add(path)
        edits.append(Edit(parse_latents(latents), op, number))
    if len(paths) > 1:
        raise SteeringError(f"one dictionary per player, got {sorted(paths)}")
    return paths.pop(), edits


def player_from_spec(net, checkpoint: str, simulations: int, steer: str, device="cpu"):
    """The player of `az:CHECKPOINT:SIMS+<steer>` (agent already loaded as `net`)."""
    path, edits = parse_steer(steer)
    dictionary = load_for_agent(path, net, checkpoint, device)
    check_edits(dictionary, edits)
    name = f"az:{checkpoint}:{simulations}+{steer}"
    return steered_player(net, dictionary, edits, simulations, device=device, name=name)


register_az_extension("steer", player_from_spec, SPEC_FORM)
