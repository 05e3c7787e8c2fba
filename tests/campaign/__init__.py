"""The reliability campaign (``nox -s campaign``): see :mod:`tests.campaign.run`."""
