"""The parcel: lifecycle, steps and tracking, manifests, pickup codes and the follow-up tasks,
removals.
"""
