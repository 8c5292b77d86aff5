"""SparkPost's events, read back into the database (issue 15).

One job per module: `windows` picks the next time window to read, `client`
reads one window's pages from the Events API, `parse` turns one raw event into
an `Event`, `rules` decides what an event does to its row, its address and an
ambiguous send, and `records` hands a page to the store as the JSON its SQL takes.
"""
