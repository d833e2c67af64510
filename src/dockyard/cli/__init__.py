"""The ``dockyard`` command-line front: parse, call the service, render."""
