"""Putting work in without a frontend: campaign files, contact imports, launch plans.

The modules here are pure (no store, no network): they read what a person wrote,
refuse it with one line that names the problem, and compute what the stores then
write in one transaction each.
"""
