"""Evaluation: per-clip metrics of a system's generated clips, and the tables."""
