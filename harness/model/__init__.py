"""The model: topology files and the setup catalogue (data and validation, no I/O
beyond reading a file). The lowest layer: it imports nothing of the harness."""
