"""Builders of tiny inputs shared by the tests (exposed as fixtures in tests/conftest.py).

``tests/`` is on the import path through ``[tool.pytest.ini_options] pythonpath``.
"""
