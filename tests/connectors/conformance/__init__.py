"""One conformance suite for every connector: the same behaviour asked of each vendor."""
