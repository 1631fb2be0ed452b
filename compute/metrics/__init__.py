"""Monitoring: the collector (one bulk stats call per host), the maths from counters to
rates, rollups and retention, threshold alarms, series for the API, charts and the
Prometheus export."""
