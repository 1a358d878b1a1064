"""Benchmarks. ``python -m bench`` runs the intake benchmark (see :mod:`bench.intake`)."""
