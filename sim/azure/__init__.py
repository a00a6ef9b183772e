"""The Azure Resource Manager double: ``AzureSim`` and the ``avd-bot sim azure`` entry point."""

from sim.azure.cli import main
from sim.azure.simulator import AzureSim

__all__ = ["AzureSim", "main"]
