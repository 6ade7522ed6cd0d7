"""Field faults played around a real agent: its host, store, clock, links and broker."""
