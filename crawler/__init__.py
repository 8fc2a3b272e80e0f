"""Everything that touches source HTTP: spiders, feed parsing, extraction, guards."""
