"""Evaluation: the sync expert's training, per-clip metrics of a system's generated clips, and the tables."""
