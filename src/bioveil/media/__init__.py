"""Reading and writing media: images (and later video), with their metadata."""
