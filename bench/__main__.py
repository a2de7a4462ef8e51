"""`python -m bench [--rows N ...] [--runs 3] [--large]`: see bench.run.main."""

import sys

from bench.run import main

sys.exit(main())
