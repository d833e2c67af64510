"""Container engines behind one small protocol (``base.Engine``); Docker and Podman today."""
