"""Evaluation: run a labelled set through the live router and retriever, and score it.

The set format and the scores are defined in the shared eval README: ``kb/`` is ingested
into a fresh, temporary store, every question is routed and retrieved, and one JSON line a
question is written. ``service`` runs and scores, ``report`` prints and plots.
"""
