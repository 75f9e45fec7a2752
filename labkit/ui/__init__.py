"""What a person sees: results, hints and progress as text, HTML and widgets (`render`, the one
module that makes output), layer pictures as data (`stack`, `shared_prefix`), and the notebook API
(`lab`, as `from labkit import lab`; `Lab`, one on another workspace).
"""

from .._faces import face

__all__ = ["Lab", "lab", "render", "result_text", "shared_prefix", "stack"]
__getattr__, __dir__ = face(
    __name__,
    {
        "Lab": "_notebook",
        "lab": "_notebook",
        "result_text": "render",
        "shared_prefix": "_pictures",
        "stack": "_pictures",
    },
)
