"""The attacks on the service's defences, one short script each, against the three running servers.

Each prints the request it sends, the defence's answer, and one line on what stopped it
(or, with that defence switched off by PLAYLISTS_UNSAFE, that it got through).
`python -m clients.attacks all` runs them in this order; the flood comes last because it
spends bob's rate-limit budget for the rest of the minute.
"""
ORDER = ("guessed_key", "expired_token", "bola", "brute_force", "sensitive_data", "xxe", "slowloris", "stream_hog",
         "lockout_abuse", "flood")
