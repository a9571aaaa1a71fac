"""Runs on disk: the store and its records, sweeps and campaigns over it, exporting a found
subnetwork, and spreading runs over other machines (Dask workers, a lent GPU)."""
