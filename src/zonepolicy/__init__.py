"""zonepolicy: security-zoning policy as code for segmented e-government networks."""

__version__ = "0.1.0"
