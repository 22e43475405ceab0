"""The release dashboard: a static page of what runs where, read from the state backends."""
