"""What is taught and checked: `CheckResult`, the check context, check primitives, the
catalog (one module per lesson), running a check, progress, reset, release. Imports
`labkit.infra` and `labkit.errors`, never `labkit.ui` or `labkit.grading`.
"""
