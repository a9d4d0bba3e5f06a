"""Models the clusterize tests split: one per kind of graph users bring."""
