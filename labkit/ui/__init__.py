"""What a person sees: text, HTML and widgets (one module, `_render`), layer pictures, the
notebook API (`labkit.lab`), the JupyterLab launcher. Imports `course` and `infra`.
"""
