"""The CLI's hot path, without the service's start-up: ``dockyard exec`` of a running
workspace on this machine's SQLite store and local engine, on the standard library,
the engine client and the store's ``direct`` statements. Whatever it is not sure of it
leaves to the full CLI, which then does all of it (it has changed nothing by then)."""
