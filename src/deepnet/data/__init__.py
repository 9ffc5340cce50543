"""Data in: sources, checks, splits and preprocessing."""
