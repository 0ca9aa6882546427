"""`python -m sae.explain`: see `sae.explain.report`."""

import sys

from sae.explain.report import main

sys.exit(main())
