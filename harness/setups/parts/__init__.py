"""The parts setups are made of, one folder each: its apply, config templates,
the paths it writes, its diagnostics collectors and its version probe."""
