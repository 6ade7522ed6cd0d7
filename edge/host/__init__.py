"""The device: one owner per site, supervised tasks, systemd, the technician's socket and
diagnostics.
"""
