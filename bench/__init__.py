"""dockyard's benchmark suite: its cost next to the engine's own floor, in one run.

Every figure is a ratio against a floor measured in the same run (the machines are
noisy), or a throughput; each is measured ``runs`` times and reported as the median
with its spread (min..max). Nothing here is a test: targets are reported, not asserted.
"""
