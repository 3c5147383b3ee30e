"""What every domain stands on: settings, the database and its unit of work, request
dependencies, errors, paging, middleware, logs, metrics, idempotency.
"""
