"""The workshop: exercises in the handout's order, each checked from the server's own record.

`python -m workshop` lists them, shows one, reveals its hints one at a time, checks a
solve against the call journal ($PLAYLISTS_HOME/events.jsonl) and the database, keeps
the progress in $PLAYLISTS_HOME/workshop.json, and resets everything for the next group.
"""
