"""Simulated people who act only through the devices; imports `protocols` only."""
