"""Simulated devices (lock boards, scanner, compartments) and their transports; imports `protocols`
only.
"""
