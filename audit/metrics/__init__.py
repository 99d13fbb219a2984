"""Assay's metric engine: pure NumPy/Torch, no Django.

Entry points: `audit.metrics.engine.run_audit` and `validate_config`; the catalog of metric ids,
thresholds and clauses is `audit.metrics.catalog.CATALOG`; the inputs are the dataclasses in
`audit.metrics.base`. Import the submodules directly (this package imports nothing heavy).
"""
