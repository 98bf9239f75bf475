"""Use cases, called alike by the web views, the JSON API and the CLI.

Every function takes the caller's SQLAlchemy session and never commits: the
request, the CLI command or the engine loop owns the transaction.
"""
