"""The compute-service port and its adapters (Agave/Tapis-style HTTP client, local execution)."""
