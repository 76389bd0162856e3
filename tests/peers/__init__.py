"""Files that make the real peers (PyPI's oct HQ, oct-turrets) run here, in their own venvs."""
