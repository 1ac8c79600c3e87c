"""``bioveil scan``: what a photo collection exposes (faces, who links across photos, metadata).

Modules, in the order a file flows through them: ``metadata`` (what the file says: GPS, times,
devices, names, thumbnails, XMP face regions, IPTC), ``faces`` (where faces are and how identifiable),
``cache`` (embeddings, thumbnails and face crops kept by content hash), ``cluster`` (people across the
collection), ``report`` (the versioned JSON, ``docs/scan_schema.md``) and ``html`` (the self-contained
HTML report). Several engineers work in this package at once: nobody but the lead engineer commits.
"""
