"""Experiments: every strategy on the same held-out items, with intervals, paired tests and costs
(`wb compare`). The spec lives in `spec`, the run in `runner`, the tables and plots in `report`."""
