"""dockyard: persistent, self-cleaning container workspaces for AI agents and their users."""

__version__ = "0.1.0"
