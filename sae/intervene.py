"""Moved: `python -m sae.steering` (this name still runs it, with a note)."""

import sys

from common.moved import forward

if __name__ == "__main__":
    forward("python -m sae.intervene", ["-m", "sae.steering"], sys.argv[1:])
