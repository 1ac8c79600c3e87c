"""Measuring identifiability: LFW-style verification and before/after-protection identification.

Front doors: :func:`bioveil.evaluation.pairs.evaluate_pairs` and
:func:`bioveil.evaluation.protection.evaluate_protection` (also ``bioveil evaluate``).
"""
