"""Calls, turns and ratings in a relational database (SQLite by default, PostgreSQL by URL)."""
