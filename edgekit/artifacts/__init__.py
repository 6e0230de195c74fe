"""The files that pass between stages: training record, ensemble manifest, hashing and atomic writes.

Numpy and the standard library only: every stage reads these, the runtime included.
"""
