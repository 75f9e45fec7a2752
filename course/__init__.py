"""The course's notebooks, written as data (course/lessons.py) and built by course/build.py."""
