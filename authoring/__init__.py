"""The course as authored: the lessons as data (authoring/lessons.py), the solutions
(authoring/solutions.py), the kinds of cell (authoring/cells.py), and the notebook builder
(authoring/build.py). Never in the wheel, never visible from a learner's lab or a sandbox."""
