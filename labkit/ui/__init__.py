"""What a person sees: results, hints and progress as text, HTML and widgets (`render`, the one
module that makes output), layer pictures, and the notebook API (`lab`, as `from labkit import lab`).
"""

from .._faces import face

__all__ = ["lab", "render", "result_text"]
__getattr__, __dir__ = face(__name__, {"lab": "_notebook", "result_text": "render"})
