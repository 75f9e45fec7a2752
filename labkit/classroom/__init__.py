"""A class on one server: `labkit hub` (`hub`: JupyterHub, a sandboxed lab per learner, their sign-in,
the instructor's class view) and a learner's lab in the single-user image on Kubernetes
(`singleuser`). Stands beside grading, on the lab, the course and ui; nothing imports it but the
command line."""

__all__ = ["hub", "singleuser"]
