"""The portal's routes, one module per area; every one depends on ``portal.access``."""
