"""``python -m service.cli``: the ``aha`` command."""

import sys

from service.cli import main

sys.exit(main())
