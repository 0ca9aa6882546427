"""Moved: `python -m sae.dictionary.evaluate` (this name still runs it, with a note)."""

import sys

from common.moved import forward

if __name__ == "__main__":
    forward("python -m sae.evaluate", ["-m", "sae.dictionary.evaluate"], sys.argv[1:])
