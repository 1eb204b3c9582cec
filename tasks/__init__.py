"""Prefect tasks: each loads its inputs, calls domain logic, saves results and returns counts.

The work of each task lives in a plain function beside it (so the CLI and tests can call it
without Prefect); the @task wrapper only adds retries, names and artifacts.
"""
