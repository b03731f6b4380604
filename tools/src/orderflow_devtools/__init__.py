"""Developer commands of `orderflow`: `up` (the whole system, no Docker) and `bench`."""
