"""``python -m dockyard`` runs the CLI."""

import sys

from dockyard.cli.main import main

sys.exit(main())
