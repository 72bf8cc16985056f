"""clstmsweep's parts on Optuna (the [sweep] extra): the study and its storage, one trial's run, the worker, the report."""
