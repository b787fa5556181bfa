"""Integrations with other libraries: :mod:`smallext.integrations.spacy`, a spaCy pipeline component that runs a
packaged student. Each integration is a module of its own that imports its library; this package imports none."""
