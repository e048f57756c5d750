"""Tracks over video frames: keyframe interpolation, propagation by optical flow or by the
pose model, identity association, jitter smoothing and the automatic tracker.

Algorithms work on plain arrays (points (K, 2), visibility (K,)) so the server, the CLI
and the benchmarks share them without a database.
"""
