"""A class on one server: the instructor's view of every learner's progress, and (to come) the hub
that gives each learner a lab of their own. Uses the course's progress stores; nothing below it
imports this part."""
