"""Analyses of an existing build: why an LSOA is where it is, how scenarios differ, how stable
the CANs are, and what the composite really weights. Each reads a :class:`canrank.builds.Build`
and never redoes the build."""
