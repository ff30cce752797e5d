"""Benchmarks: sitemail's delivery measured side by side with its anchors, in one run."""
