"""Saving and restoring work: one ``Strategy`` per way of saving (volume, git, image),
the checkpoint records, git inside containers, tar streams and the checkpoint vault."""
