"""The store suite: every test runs on SQLite and on PostgreSQL (see conftest.py)."""
