"""Live firehose sources: each runs as its own process (`groundswell source NAME ...`), connects to
a network's real streaming API, and produces what it receives to social.raw."""
