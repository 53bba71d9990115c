"""Offline and streaming evaluation: metrics, classical baselines, and the evaluator."""
