"""``python -m engine.cli``: the ``raytrader`` command line."""

import sys

from engine.cli import main

sys.exit(main())
