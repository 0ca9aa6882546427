"""`python -m sae.concepts`: see `sae.concepts.report`."""

import sys

from sae.concepts.report import main

sys.exit(main())
