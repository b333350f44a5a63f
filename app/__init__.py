"""mixpeek-mock: a self-hosted reference server for Mixpeek's bucket-sync API."""

# The version of the vendor API this server reproduces (its OpenAPI document's version).
API_VERSION = "0.81"
