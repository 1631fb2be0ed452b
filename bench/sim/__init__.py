"""Trace-driven simulation of the scheduler core (PlanetLab, CloudSim reference set-up)."""
