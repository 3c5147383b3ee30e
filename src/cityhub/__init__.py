"""CityHub: an open, neutral hub for city services."""

__version__ = "0.1.0"
