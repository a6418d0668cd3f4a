"""Stream processor: Spark Structured Streaming job."""
