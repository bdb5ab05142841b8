"""Labeling, pure: Encord ontologies, label-row validation and export formats (no I/O)."""
