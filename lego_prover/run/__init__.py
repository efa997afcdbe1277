"""Runs: the scheduler, the run store (resume), summaries and reports."""
