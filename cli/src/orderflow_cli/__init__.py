"""The `orderflow` command: run the whole system locally, migrate databases, create queues."""
