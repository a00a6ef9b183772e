"""Tests of azureops: plans, errors and pure pieces of the Azure capabilities."""
