"""`python -m sae.steering`: see `sae.steering.cli`."""

import sys

from sae.steering.cli import main

sys.exit(main())
