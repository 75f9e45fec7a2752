"""Check primitives: small functions that read the real engine and registry and return a CheckResult.

One module per area (images, containers, registry, http, files). Each takes the
`LabContext` first and talks to the engine only through `labkit.engines._sdk.Engine`.
"""
