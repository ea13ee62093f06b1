"""The published JSON Schemas of the job file format (package data)."""
