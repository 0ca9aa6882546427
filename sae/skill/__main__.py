"""`python -m sae.skill`: see `sae.skill.study`."""

import sys

from sae.skill.study import main

sys.exit(main())
