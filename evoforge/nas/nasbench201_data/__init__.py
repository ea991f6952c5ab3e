"""NAS-Bench-201's accuracy tables, shipped as package data (see README.md here for columns and provenance)."""
