"""Where things are on the island: a coarse land outline of Singapore and distances.

The outline is the main island's coastline at a resolution of a few hundred metres, with the
central water catchment (reservoirs and nature reserve, where nobody lives or collects
parcels) cut out. Offshore islands (Sentosa, Jurong Island, Pulau Ubin, Tekong) are left out:
no site of the network is there. It is good enough to keep generated sites and addresses out
of the sea; it is not a map.

Distances are on a local flat projection (equirectangular at Singapore's latitude): across
50 km the error against the great circle is far below a metre, and it is much faster.
"""

from __future__ import annotations

import math

# Kilometres per degree at Singapore's latitude (~1.35° N).
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320 * math.cos(math.radians(1.35))

# (lat, lon) clockwise from Tuas South: the main island's coast, coarse.
MAIN_ISLAND: tuple[tuple[float, float], ...] = (
    (1.262, 103.635),  # Tuas South
    (1.285, 103.610),  # Tuas West reclamation
    (1.320, 103.615),
    (1.345, 103.632),  # Tuas checkpoint (Second Link)
    (1.372, 103.660),
    (1.405, 103.685),
    (1.430, 103.705),  # Lim Chu Kang
    (1.448, 103.728),  # Sungei Buloh
    (1.440, 103.750),  # Kranji
    (1.450, 103.768),  # Woodlands causeway
    (1.455, 103.790),
    (1.462, 103.808),
    (1.470, 103.820),  # Sembawang
    (1.462, 103.838),
    (1.440, 103.850),
    (1.425, 103.862),  # Seletar
    (1.418, 103.885),
    (1.420, 103.910),  # Punggol Point
    (1.405, 103.925),
    (1.388, 103.945),  # Pasir Ris
    (1.385, 103.970),
    (1.392, 103.990),  # Changi Village
    (1.375, 104.020),
    (1.350, 104.040),  # Changi East
    (1.320, 104.030),
    (1.312, 103.990),  # Tanah Merah
    (1.305, 103.950),  # Bedok
    (1.298, 103.915),
    (1.292, 103.885),
    (1.283, 103.873),  # Marina East
    (1.268, 103.862),  # Marina South
    (1.264, 103.845),  # Tanjong Pagar
    (1.266, 103.820),  # Keppel
    (1.270, 103.800),  # Labrador
    (1.280, 103.770),  # Pasir Panjang
    (1.295, 103.750),  # West Coast
    (1.302, 103.725),  # Jurong Port
    (1.305, 103.690),  # Jurong Pier
    (1.300, 103.670),
    (1.285, 103.655),
)

# The central catchment: MacRitchie, the Peirce and Seletar reservoirs and the reserve.
CENTRAL_CATCHMENT: tuple[tuple[float, float], ...] = (
    (1.343, 103.800),
    (1.340, 103.830),
    (1.360, 103.835),
    (1.400, 103.830),
    (1.412, 103.810),
    (1.405, 103.780),
    (1.375, 103.785),
)


def _inside(lat: float, lon: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    """Even-odd ray casting: is the point inside the polygon?"""
    inside = False
    count = len(polygon)
    for i in range(count):
        lat1, lon1 = polygon[i]
        lat2, lon2 = polygon[(i + 1) % count]
        if (lat1 > lat) != (lat2 > lat):
            crossing = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
            if lon < crossing:
                inside = not inside
    return inside


def on_land(lat: float, lon: float) -> bool:
    """True if the point is on Singapore's main island, outside the central catchment."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    return _inside(lat, lon, MAIN_ISLAND) and not _inside(lat, lon, CENTRAL_CATCHMENT)


def to_km(lat: float, lon: float) -> tuple[float, float]:
    """The point on a flat (x east, y north) kilometre grid; good across the island."""
    return lon * KM_PER_DEG_LON, lat * KM_PER_DEG_LAT


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Straight-line distance in kilometres between two points on the island."""
    return math.hypot((lon2 - lon1) * KM_PER_DEG_LON, (lat2 - lat1) * KM_PER_DEG_LAT)
