"""Live sessions: the processes behind ``shell`` and ``command`` sessions."""
