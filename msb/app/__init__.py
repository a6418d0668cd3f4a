"""The application layer: commands that compose the services (``msb run``, ``msb scale``).

The core library beside it (msb.alert, msb.avro, msb.kafka, msb.metrics, msb.sources, msb.broker)
never imports from here; services import the core only.
"""
