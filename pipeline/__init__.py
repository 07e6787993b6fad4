"""Retrieval over the curated FAQ knowledge base, as a Haystack pipeline.

Imports nothing from ``voice``; the call flow reaches it through the ``Answerer`` port. The modules
``knowledge``, ``content``, ``result`` and ``gate_defaults`` are plain Python (no Haystack import) so that
tools such as the validator, and the settings, stay light.
"""
