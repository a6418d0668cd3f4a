"""Replay producer: archived alert packets into Kafka in visit bursts."""
