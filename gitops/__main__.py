"""``python -m gitops``."""

import sys

from gitops.cli import main

sys.exit(main())
