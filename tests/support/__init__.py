"""Real test collaborators (an HTTP receiver on loopback), not mocks."""
