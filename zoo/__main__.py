"""``python -m zoo``: the ``zoo`` command (what ``torchrun ... -m zoo train NAME`` runs on each rank)."""

import sys

from zoo.cli import main

sys.exit(main())
