"""Crossmatch service: catalogs, matching, early classification."""
