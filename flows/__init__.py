"""Prefect flows: they only put tasks in order; the work is in tasks/ and the decisions in
minqing/."""
