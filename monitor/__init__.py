"""rasid's core: settings, storage, sources, ingest, matching, the service and its CLI."""
