"""Benchmarks of the streaming engine: speed, exactness, FLOPs and distance to the device's peak."""
