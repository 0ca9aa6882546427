"""`python -m sae.activations`: see `sae.activations.collect`."""

import sys

from sae.activations.collect import main

sys.exit(main())
