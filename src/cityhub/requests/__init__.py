"""Service requests (the 12345 hotline): request types, reports, handling to a deadline,
Open311 GeoReport v2."""
