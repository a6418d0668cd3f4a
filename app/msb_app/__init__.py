"""The application: commands that compose the components (``msb run``, ``msb scale``).

It imports the core (msb) and the components (msb_replay, msb_stream, msb_crossmatch); nothing imports it
(tests/test_layout.py).
"""
