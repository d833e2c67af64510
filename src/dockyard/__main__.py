"""``python -m dockyard`` runs the CLI."""

import sys

from dockyard.cli.entry import main

sys.exit(main())
