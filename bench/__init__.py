"""``make bench``: gturret measured side by side against its peers in one run.

The package runs under its own venv (``bench/.venv``) so that Locust, oct-turrets and
geventhttpclient never land in the project venv; see ``bench/README.md``.
"""
