"""The sites: the network file, registry, ingest of their events, streams, liveness, clocks,
commands, alarms.
"""
