"""The running lab: the Docker engine (the SDK boundary, which engine, a managed dockerd), the
course registry and the mirror (processes and HTTP client), base images, lab state and paths,
and `up` / `down` / `status`. Imports nothing else of labkit but `labkit.errors`.
"""
