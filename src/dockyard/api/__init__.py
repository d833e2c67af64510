"""The HTTP front: ``dockyard serve`` runs the API, the reconciler and webhooks in one process.

Handlers are thin: they check the caller's token, validate the body (unknown fields are
rejected), call the same service the CLI uses, and render. Errors are JSON with a
stable ``code`` (the service's error codes) and the HTTP status that goes with it.
"""
