"""The site's decisions, pure (no I/O; tests/edge/test_site_purity.py): an input with the
time and the site's records and state in, actions out (actions.py). The slot table is
slots.py, the live state beside it state.py; the flows are scans.py, counter.py, commands.py,
technician.py, readings.py, doors.py, reconcile.py, timers.py and faults.py."""
