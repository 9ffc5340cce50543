"""The bottom layer: errors, registries, atomic file io, units. Imports nothing of deepnet."""
