"""Alerts: events of the daemons routed into the queues that `alerts:` entries name.

`event.py` says what happened (pure), `route.py` which alerts take it and
with which keys and payload (pure), `deliver.py` claims, throttles and
enqueues (the I/O edge; it never raises into the worker or scheduler that
reported the event).
"""
