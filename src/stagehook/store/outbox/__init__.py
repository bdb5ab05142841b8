"""The outbox: events, their deliveries, attempts, receiver health and workers.

Every statement on those tables lives in this package (``delivery/`` holds no SQL):
``write`` (events and deliveries, with the transition), ``claim`` (leases),
``record`` (attempt results), ``health`` (circuits, failing webhooks), ``workers``
(heartbeats), ``retention`` and ``log`` (the delivery log users read and act on).
The dispatcher's hot statements are hand-written SQL run as ``store/prepared.py``
``Prepared.sql`` (on the driver's cursor, list parameters as ``IN_LIST``).
"""
