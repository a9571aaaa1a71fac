"""Spreading a sweep over many workers with Dask distributed.

``sweep(configs, executor=dask_executor(client))`` sends every run to the cluster; the run store's
claims keep two workers off the same run and let a run whose worker died resume elsewhere from
its checkpoint (Dask re-submits a task whose worker was lost).

- One machine: ``dask_client()`` starts a ``LocalCluster``.
- A running cluster: ``dask_client("tcp://scheduler:8786")``.
- Slurm: start the cluster with dask-jobqueue (``SLURMCluster(...).scale(jobs=n)``) and pass
  ``Client(cluster)``; workers need the results directory and the data on a shared file system.
"""

from __future__ import annotations

from concurrent.futures import Executor

__all__ = ["dask_client", "dask_executor"]


def dask_client(address: str | None = None, **local_cluster_options):
    """A ``dask.distributed.Client``: to the scheduler at ``address``, or to a new LocalCluster
    (one single-threaded worker process per run slot unless ``local_cluster_options`` say
    otherwise) that the client owns, so closing the client stops its worker processes."""
    try:
        from dask.distributed import Client
    except ImportError as error:
        raise ImportError(
            "sweeps on Dask need the 'distributed' package: pip install 'supermask[dask]'"
        ) from error
    if address is not None:
        return Client(address)
    options = {"threads_per_worker": 1, "processes": True, **local_cluster_options}
    return Client(**options)


def dask_executor(client) -> Executor:
    """A ``concurrent.futures.Executor`` running each submitted run as one Dask task."""
    return client.get_executor(pure=False)
