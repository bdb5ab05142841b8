"""The service layer over the database: one module per aggregate, and its rules.

Every operation the API, the UI and the dispatcher perform is a function here taking a
``Store`` (database, clock, settings): it authorizes (``access.py``), validates (webhook
targets, passwords), and reads and writes the tables in one transaction. Knows tables,
not HTTP. ``outbox/`` owns every statement on the delivery tables.
"""
