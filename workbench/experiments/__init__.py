"""Experiments: every strategy on the same held-out items, with intervals, paired tests and costs
(`wb compare`). The spec lives in `workbench.config.experiment`; the split in `data`; the run in
`runner`, which hands each variant to its task's evaluator in `tasks` (reusing indexes and trained runs
through `cache`); the results folder's checked files in `outputs`, its tables and plots in `report`."""
