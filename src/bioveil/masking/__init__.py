"""Masking: the regions a mask covers, the maskers, and the photo, video and batch pipelines of ``bioveil mask``."""
