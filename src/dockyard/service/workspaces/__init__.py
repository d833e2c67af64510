"""Use cases on workspaces: acquire (create, reuse, start, restore), stop, park, remove,
keep, touch, extend, sessions, execs, the owner quota, and the views people and scripts
read."""
