"""The whole-network simulator: fleet, central's process, the day, report, `lockernet sim` and
`demo`.
"""
