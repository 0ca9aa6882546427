"""`python -m sae.probes`: see `sae.probes.report`."""

import sys

from sae.probes.report import main

sys.exit(main())
