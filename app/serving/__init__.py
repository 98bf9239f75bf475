"""Serving the platform: the process supervisor behind ``mamori serve`` and its gunicorn worker class."""
