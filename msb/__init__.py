"""msb: the mini Spark broker."""
