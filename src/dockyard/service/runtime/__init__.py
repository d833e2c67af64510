"""What every use case stands on: the context (settings, store, engine, clock, event
bus), leases, holder identity, settings changed at run time, and the workspace's own
records and engine objects. Nothing here decides a workspace's fate."""
