"""Parse: YAML bytes in, plain data with a source position for every value out."""
