"""Azure operations: every Azure SDK call the bot makes, as reads and plans of idempotent steps; no Slack.

The public surface is the modules by noun (``__all__``), each with its own public functions; the shared
types live in ``clients`` (``AzureClients``), ``plan`` (``Plan``, ``Step``, ``StepContext``, ``run_lro``),
``errors`` (``project_error``, ``translated``), ``sessions`` (``HostPoolRef``), ``dr_capacity``
(``ScaleSetRef``), ``gallery`` (``ImageRef``), ``scaleset_spec`` (``ScaleSetSpec``), ``asr``
(``RecoveryPlanRef``) and ``recovery`` (``PrimaryGate``). SDK exceptions become the project's ``AzureError``
family here; ``bot`` never imports ``azure.*``. Nothing is imported here, so ``import azureops.credentials``
does not pay for every Azure SDK client.
"""

__all__ = [
    "asr",
    "assignments",
    "clients",
    "credentials",
    "doctor",
    "dr_capacity",
    "errors",
    "failover",
    "gallery",
    "graphaccess",
    "hostpools",
    "identities",
    "locks",
    "plan",
    "readiness",
    "recovery",
    "replicas",
    "scale_plans",
    "scaleset_spec",
    "scaleset_steps",
    "scalesets",
    "sessions",
    "snapshot_copies",
    "snapshot_plans",
    "snapshot_steps",
    "snapshots",
    "staging",
]
