"""deblur: single-image blind motion deblurring and benchmarking of deblurring networks."""

__version__ = "0.1.0"
