"""Pieces every package shares: the error hierarchy, the CLI runner and the cache folder."""
