"""Serving a packaged student over HTTP (see :mod:`smallext.serve.app`)."""

from smallext.serve.app import create_app, serve

__all__ = ["create_app", "serve"]
